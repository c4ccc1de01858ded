from depthlab.utils.errors import DepthlabError, one_line

__all__ = ["DepthlabError", "one_line"]
