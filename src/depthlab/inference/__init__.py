"""Run trained depth networks on new images and ship them: model files, image IO, geometry, export."""
