"""The model manager: models found on disk, the catalog with fit verdicts, downloads, model folders.

It is also the status bar's model picker. Everything slow is awaited on the asyncio loop while it runs on a
worker thread (`asyncio.to_thread`) — the scan (`engine.survey`: file headers, the HF cache, GPU memory) and
downloads (`engine.download`, with a cancel event; progress is handed to the loop with
`call_soon_threadsafe`) — so the window never waits on a disk or the network. The dialog only talks to engine objects; the Hub is reached in engine/.

The catalog tab shows, per model, the fit verdict, an estimate of a 64-token rewrite on this machine (from
`engine.measured_throughput`, a probe of this CPU measured once and cached), a "Recommended" mark on the best
model that fits and is fast enough (`engine.recommend`), and, where Download cannot help, why — in the row
and as the disabled button's tooltip.

Where the choices live (QSettings): the active model is the window's model preference (`modelChosen` hands it
over; the window stores and loads it), the user's extra model folders under `models/folders`, the download folder under
`models/dir` (empty: the platform default; `REDRAFT_MODELS_DIR` overrides both).
"""

from __future__ import annotations

import asyncio
import threading

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine import (
    GB,
    CatalogEntry,
    DownloadCancelled,
    DownloadProgress,
    Estimate,
    FoundModel,
    Survey,
    Throughput,
    download,
    estimate_speed,
    measured_throughput,
    one_line,
    recommend,
    survey,
    why_not_downloadable,
)

FOLDERS_KEY = "models/folders"
DIR_KEY = "models/dir"
RECOMMENDED = "★ Recommended"


class ModelManager(QDialog):
    """Attributes:
        survey: the last scan's result, or None before the first one ends.

    Signals:
        modelChosen(str): the spec of the model the user made active (the window loads it).
        scanned(object): a scan finished (the new `Survey`).
        downloadFinished(str): a catalog id whose download finished, or "" when it failed or was cancelled.
        downloadProgress(DownloadProgress): a download's progress (shown in the progress bar too).
    """

    speed_cache: str | None = None

    modelChosen = Signal(str)
    scanned = Signal(object)
    downloadFinished = Signal(str)
    downloadProgress = Signal(object)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(860, 480)
        self.settings = settings
        self.survey: Survey | None = None
        self.throughput: Throughput | None = None
        self.estimates: dict[str, Estimate] = {}
        self.recommended: CatalogEntry | None = None
        self.blocked: dict[str, str] = {}
        self._scanning = False
        self._rescan = False
        self._cancel: threading.Event | None = None
        self._tasks: set[asyncio.Task] = set()

        self.hardware_label = QLabel("Looking for models…")
        self.hardware_label.setWordWrap(True)
        self.found_table = _table(["Model", "Source", "Size", "Status", "Path"])
        self.use_button = QPushButton("Use this model")
        self.catalog_table = _table(["Model", "Status", "Size", "Needs", "Speed here", "Fits this machine?"])
        self.recommend_label = QLabel("")
        self.recommend_label.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel download")
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("Hugging Face token, for gated models (optional)")
        self.progress = QProgressBar()
        self.progress_label = QLabel("")
        self.folder_list = QListWidget()
        self.dir_label = QLabel()
        self.message = QLabel("")
        self.message.setWordWrap(True)

        tabs = QTabWidget()
        tabs.addTab(self._page(self.found_table, self.use_button), "On disk")
        catalog_page = self._page(self.catalog_table, self.token_edit, self.download_button, self.cancel_button)
        catalog_page.layout().insertWidget(0, self.recommend_label)
        tabs.addTab(catalog_page, "Catalog")
        add_folder, add_file, remove, change_dir = (
            QPushButton(t) for t in ("Add folder…", "Add .gguf file…", "Remove", "Change download folder…")
        )
        tabs.addTab(self._page(self.folder_list, add_folder, add_file, remove, self.dir_label, change_dir), "Folders")
        rescan = QPushButton("Rescan")
        layout = QVBoxLayout(self)
        layout.addWidget(self.hardware_label)
        layout.addWidget(tabs)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress)
        bottom.addWidget(self.progress_label, 1)
        bottom.addWidget(rescan)
        layout.addLayout(bottom)
        layout.addWidget(self.message)
        self.progress.hide()
        self.cancel_button.setEnabled(False)

        self.use_button.clicked.connect(self._on_use)
        self.found_table.itemDoubleClicked.connect(self._on_use)
        self.found_table.itemSelectionChanged.connect(self._update_buttons)
        self.catalog_table.itemSelectionChanged.connect(self._update_buttons)
        self.download_button.clicked.connect(self._on_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        add_folder.clicked.connect(self._on_add_folder)
        add_file.clicked.connect(self._on_add_file)
        remove.clicked.connect(self._on_remove_folder)
        change_dir.clicked.connect(self._on_change_dir)
        rescan.clicked.connect(self.rescan)
        self._show_folders()
        self._update_buttons()

    # -- settings -------------------------------------------------------------------------------------------

    def folders(self) -> list[str]:
        value = self.settings.value(FOLDERS_KEY) or []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def add_folder(self, path: str) -> None:
        if path and path not in self.folders():
            self.settings.setValue(FOLDERS_KEY, [*self.folders(), path])
            self._show_folders()
            self.rescan()

    def remove_folder(self, path: str) -> None:
        self.settings.setValue(FOLDERS_KEY, [f for f in self.folders() if f != path])
        self._show_folders()
        self.rescan()

    def models_dir_setting(self) -> str | None:
        return str(self.settings.value(DIR_KEY) or "") or None

    def set_models_dir(self, path: str) -> None:
        self.settings.setValue(DIR_KEY, path)
        self._show_folders()
        self.rescan()

    # -- scanning -------------------------------------------------------------------------------------------

    def rescan(self) -> None:
        """Start a scan (one at a time; a request during a scan runs one more after it)."""
        if self._scanning:
            self._rescan = True
            return
        self._scanning = True
        self._spawn(self._scan())

    async def _scan(self) -> None:
        result = None
        try:
            result, self.throughput = await asyncio.to_thread(
                _survey_and_speed, self.folders(), self.models_dir_setting(), self.speed_cache
            )
        except Exception as exc:  # noqa: BLE001 - any failure becomes a message, never a crash
            self.message.setText(f"Scan failed: {one_line(exc)}")
        else:
            self.survey = result
            self._show_survey(result)
        finally:
            self._scanning = False
        if self._rescan:
            self._rescan = False
            self.rescan()
        elif result is not None:
            self.scanned.emit(result)

    def _show_survey(self, s: Survey) -> None:
        hw = s.hardware
        gpus = ", ".join(f"{g.name} {g.total_bytes / GB:.1f} GB" for g in hw.gpus) or "no GPU"
        disk = f"{hw.disk_free_bytes / GB:.1f} GB free for models" if hw.disk_free_bytes is not None else ""
        self.hardware_label.setText(f"This machine: {hw.ram_total_bytes / GB:.1f} GB RAM · {gpus} · {disk}")
        self.found_table.setRowCount(0)
        for m in s.found:
            status = m.problem or s.fit_of(m).message
            _add_row(self.found_table, [_found_name(m, s), m.source, f"{m.size_bytes / GB:.2f} GB", status, m.path], m)
        self._judge(s)
        self.catalog_table.setRowCount(0)
        for e in s.catalog:
            fit = s.fits[e.id]
            size = f"{e.size_gb:g} GB" if e.size_gb else "?"
            if "size_gb" in e.unverified:
                size += " (estimate)"
            reason = self.blocked.get(e.id)
            # The row says the reason in short ("needs a GPU"); its tooltip and the button's say it in full.
            status = "on disk" if e.id in s.on_disk else ("can download" if reason is None else f"cannot download: {reason.split(':')[0]}")
            speed = self.estimates[e.id].text if e.id in self.estimates else "—"
            name = f"{e.name}  {RECOMMENDED}" if e is self.recommended else e.name
            cells = [name, status, size, f"{fit.need_gb:.1f} GB ({fit.dtype})", speed, fit.message]
            row = _add_row(self.catalog_table, cells, e)
            if reason is not None:
                self.catalog_table.item(row, 1).setToolTip(f"Cannot download: {reason}")
            checked = "" if e.confirmed else f"\nNot confirmed: {e.unverified_why}"
            source = f"\nSource: {e.source}" if e.source else ""
            self.catalog_table.item(row, 0).setToolTip(f"{e.good_for}\nLicense: {e.license}{source}{checked}")
            if e is self.recommended:
                bold = QFont(self.catalog_table.font())
                bold.setBold(True)
                self.catalog_table.item(row, 0).setFont(bold)
        if self.recommended is not None:
            self.recommend_label.setText(
                f"{RECOMMENDED} for this machine: {self.recommended.name} — the best model that fits here and "
                f"takes {self.estimates[self.recommended.id].text.removeprefix('about ')}."
                if self.recommended.id in self.estimates and self.estimates[self.recommended.id].seconds is not None
                else f"{RECOMMENDED} for this machine: {self.recommended.name} — the best model that fits here."
            )
        else:
            self.recommend_label.setText("No catalog model both fits this machine and edits in a few seconds.")
        for table in (self.found_table, self.catalog_table):
            table.resizeColumnsToContents()
        self._update_buttons()

    def _judge(self, s: Survey) -> None:
        """Speed estimates (where the model fits), the recommendation, and why Download cannot help a row."""
        self.estimates = {}
        if self.throughput is not None:
            self.estimates = {
                e.id: estimate_speed(e, s.fits[e.id].dtype, s.fits[e.id].where, self.throughput)
                for e in s.catalog
                if s.fits[e.id].verdict != "no" and e.unavailable is None
            }
        self.recommended = recommend(s.catalog, s.fits, self.estimates)
        self.blocked = {}
        for e in s.catalog:
            reason = why_not_downloadable(e, s.fits[e.id], s.hardware)
            if reason is not None:
                self.blocked[e.id] = reason

    # -- choosing -------------------------------------------------------------------------------------------

    def selected_found(self) -> FoundModel | None:
        return _selected(self.found_table)

    def selected_entry(self) -> CatalogEntry | None:
        return _selected(self.catalog_table)

    def use(self, model: FoundModel) -> None:
        """Make `model` active: the window stores it as the model setting and loads it."""
        if model.problem:
            self.message.setText(f"Cannot use {model.id}: {model.problem}")
            return
        verdict = f" ({self.survey.fit_of(model).message})" if self.survey is not None else ""
        self.message.setText(f"Loading {model.id}…{verdict}")
        self.modelChosen.emit(model.spec)

    def _on_use(self, *_args) -> None:
        model = self.selected_found()
        if model is not None:
            self.use(model)

    # -- downloads ------------------------------------------------------------------------------------------

    @property
    def downloading(self) -> bool:
        return self._cancel is not None

    def start_download(self, entry: CatalogEntry, endpoint: str | None = None) -> None:
        """Start a download; progress shows as it comes, the outcome in the message line."""
        if self.downloading:
            self.message.setText("A download is already running")
            return
        if self.survey is None:
            self.message.setText("Wait for the scan to finish")
            return
        if entry.id in self.blocked:
            self.message.setText(f"Cannot download {entry.name}: {self.blocked[entry.id]}")
            return
        cancel = self._cancel = threading.Event()
        token = self.token_edit.text().strip() or None
        target = self.survey.models_dir
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.show()
        self.progress_label.setText(f"Starting {entry.name}…")
        self.message.setText("")

        self._spawn(self._download(entry, target, cancel, token, endpoint))
        self._update_buttons()

    async def _download(self, entry: CatalogEntry, target, cancel: threading.Event, token, endpoint) -> None:
        loop = asyncio.get_running_loop()

        def progress(p: DownloadProgress) -> None:  # on the download's thread
            loop.call_soon_threadsafe(self._on_progress, p)

        model_id, error = "", ""
        try:
            await asyncio.to_thread(download, entry, target, progress, cancel, token=token, endpoint=endpoint)
            model_id = entry.id
        except DownloadCancelled as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - shown as a message
            error = one_line(exc)
        self._on_download_done(model_id, error)

    def cancel_download(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.progress_label.setText("Cancelling…")

    def _on_download(self) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self.start_download(entry)

    def _on_progress(self, p: DownloadProgress) -> None:
        if self._cancel is None:
            return  # a late report of a download already ended
        self.downloadProgress.emit(p)
        self.progress.setValue(int(p.fraction * 1000))
        eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
        self.progress_label.setText(
            f"{p.filename}: {p.done_bytes / 1e6:,.1f} of {p.total_bytes / 1e6:,.1f} MB, "
            f"{p.rate_bytes_per_s / 1e6:.1f} MB/s{eta}"
        )

    def _on_download_done(self, model_id: str, error: str) -> None:
        self._cancel = None
        self.progress.hide()
        self.progress_label.setText("")
        self.message.setText(error or f"Downloaded {model_id}")
        self._update_buttons()
        self.downloadFinished.emit(model_id)
        self.rescan()

    # -- folders --------------------------------------------------------------------------------------------

    def _show_folders(self) -> None:
        self.folder_list.clear()
        self.folder_list.addItems(self.folders())
        self.dir_label.setText(f"Downloads go to: {self.models_dir_setting() or 'the default folder'}")

    def _on_add_folder(self) -> None:
        self.add_folder(QFileDialog.getExistingDirectory(self, "Add a folder of models"))

    def _on_add_file(self) -> None:
        self.add_folder(QFileDialog.getOpenFileName(self, "Add a GGUF model", "", "GGUF models (*.gguf)")[0])

    def _on_remove_folder(self) -> None:
        item = self.folder_list.currentItem()
        if item is not None:
            self.remove_folder(item.text())

    def _on_change_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Download models to")
        if path:
            self.set_models_dir(path)

    # -- plumbing -------------------------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        found = self.selected_found()
        self.use_button.setEnabled(found is not None and not found.problem)
        entry = self.selected_entry()
        reason = self.blocked.get(entry.id) if entry is not None else None
        self.download_button.setEnabled(
            entry is not None and reason is None and not self.downloading and self.survey is not None
        )
        if entry is None:
            self.download_button.setToolTip("Choose a model in the list")
        else:
            self.download_button.setToolTip(f"Cannot download {entry.name}: {reason}" if reason else f"Download {entry.name}")
        self.cancel_button.setEnabled(self.downloading)

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Cancel a download and await the scan and the download, at most `timeout` seconds (the window
        awaits this as it closes; a thread still inside a disk call after that is a daemon and dies with the app)."""
        self.cancel_download()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    def _page(self, main: QWidget, *below: QWidget) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(main)
        row = QHBoxLayout()
        for widget in below:
            row.addWidget(widget)
        layout.addLayout(row)
        return page


def _survey_and_speed(folders, models_dir_setting, speed_cache) -> tuple[Survey, Throughput | None]:
    """On a worker thread: the scan, and this machine's throughput (cached after its first probe). A probe that
    fails leaves the rows without estimates rather than failing the scan."""
    result = survey(folders, models_dir_setting)
    try:
        return result, measured_throughput(speed_cache)
    except Exception:  # noqa: BLE001 - no estimate is better than no model list
        return result, None


def _found_name(m: FoundModel, s: Survey) -> str:
    entry = next((e for e in s.catalog if e.id == m.catalog_id), None)
    return f"{entry.name} — {m.id}" if entry and entry.name != m.id else m.id


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().hide()
    return table


def _add_row(table: QTableWidget, cells: list[str], value: object) -> int:
    row = table.rowCount()
    table.insertRow(row)
    for column, text in enumerate(cells):
        item = QTableWidgetItem(text)
        item.setToolTip(text)
        table.setItem(row, column, item)
    table.item(row, 0).setData(Qt.ItemDataRole.UserRole, value)
    return row


def _selected(table: QTableWidget):
    rows = table.selectionModel().selectedRows()
    return table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole) if rows else None
