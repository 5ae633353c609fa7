"""llama-cpp-python loads libllama/libggml*/libmtmd with ctypes from llama_cpp/lib at import time, so PyInstaller's
import analysis never sees them: collect them into the same folder, and the package's data (chat templates)."""

from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs

binaries = collect_dynamic_libs("llama_cpp")
datas = collect_data_files("llama_cpp")
