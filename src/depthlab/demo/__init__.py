"""The interactive Gradio demo (demo.py): one session object holds the model, the page calls it."""
