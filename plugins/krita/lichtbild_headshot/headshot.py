"""The Krita side: read the document's pixels, hand them to liblichtbild, put the result back.

Krita gives 8-bit RGBA pixels in B, G, R, A order; lichtbild takes and returns R, G, B, A.
16-bit and float documents are refused with a message (convert them first).
"""
from krita import Extension, InfoObject, Krita  # noqa: F401
try:
    from PyQt5.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox,
                                 QDoubleSpinBox, QFormLayout, QMessageBox, QRadioButton,
                                 QVBoxLayout, QLabel)
except ImportError:  # Krita 6 (Qt 6)
    from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox,  # type: ignore
                                 QDoubleSpinBox, QFormLayout, QMessageBox, QRadioButton,
                                 QVBoxLayout, QLabel)

from .lichtbild_ctypes import LichtbildError, headshot_rgba, preset_names

BACKGROUNDS = ["studio-grey", "light-grey", "white", "blue-grey", "anthracite", "blur", "transparent"]
CONSENT_TEXT = "Analyse my face to crop and level it; nothing leaves this computer"
APPEARANCE_TEXT = "Retouching may change how I look (needed for retouch > 0)"


def _swap_rb(pixels):
    """BGRA <-> RGBA (the same swap both ways)."""
    b = bytearray(pixels)
    b[0::4], b[2::4] = b[2::4], b[0::4]
    return bytes(b)


def make_headshot(doc, preset="bewerbung-45x60", background="", retouch=0.0, consent=False,
                  consent_appearance=False, output="document"):
    """The non-interactive entry (batch scripts and the dialog both use it).

    Returns the new Document (output="document") or the new paint layer Node (output="layer").
    Raises LichtbildError with the library's message; the document is untouched then.
    """
    if doc.colorModel() != "RGBA" or doc.colorDepth() != "U8":
        raise LichtbildError(
            "unsupported_format",
            "lichtbild works on 8-bit RGBA documents; this one is %s %s. Convert it with "
            "Image › Convert Image Color Space… (RGB/Alpha, 8-bit integer) and try again."
            % (doc.colorModel(), doc.colorDepth()))
    w, h = doc.width(), doc.height()
    doc.waitForDone()
    rgba = _swap_rb(doc.pixelData(0, 0, w, h))
    out, ow, oh, _findings = headshot_rgba(rgba, w, h, preset, background, retouch, consent,
                                           consent_appearance)
    bgra = _swap_rb(out)
    if output == "layer":
        layer = doc.createNode("Headshot (lichtbild)", "paintlayer")
        doc.rootNode().addChildNode(layer, None)
        # Grow the canvas (never crop it) so the whole headshot is visible.
        if ow > w or oh > h:
            doc.resizeImage(0, 0, max(w, ow), max(h, oh))
        layer.setPixelData(bgra, 0, 0, ow, oh)
        doc.refreshProjection()
        return layer
    app = Krita.instance()
    new = app.createDocument(ow, oh, "Headshot (lichtbild)", "RGBA", "U8", doc.colorProfile(),
                             doc.resolution())
    layer = new.topLevelNodes()[0]
    layer.setPixelData(bgra, 0, 0, ow, oh)
    new.refreshProjection()
    return new


class HeadshotDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Headshot (lichtbild)")
        form = QFormLayout()
        self.preset = QComboBox()
        self.preset.addItems(preset_names())
        form.addRow("Preset", self.preset)
        self.background = QComboBox()
        self.background.setEditable(True)  # also "#rrggbb", "studio:#rrggbb", ...
        self.background.addItems(BACKGROUNDS)
        form.addRow("Background", self.background)
        self.retouch = QDoubleSpinBox()
        self.retouch.setRange(0.0, 1.0)
        self.retouch.setSingleStep(0.1)
        form.addRow("Retouch", self.retouch)
        self.consent = QCheckBox(CONSENT_TEXT)
        self.appearance = QCheckBox(APPEARANCE_TEXT)
        self.as_document = QRadioButton("New document at the preset size")
        self.as_layer = QRadioButton("New layer in this document")
        self.as_document.setChecked(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addLayout(form)
        for w in (self.consent, self.appearance, QLabel("Result"), self.as_document, self.as_layer, buttons):
            box.addWidget(w)

    def values(self):
        return dict(preset=self.preset.currentText(), background=self.background.currentText(),
                    retouch=self.retouch.value(), consent=self.consent.isChecked(),
                    consent_appearance=self.appearance.isChecked(),
                    output="layer" if self.as_layer.isChecked() else "document")


class HeadshotExtension(Extension):
    def setup(self):
        pass

    def createActions(self, window):
        action = window.createAction("lichtbild_headshot", "Headshot (lichtbild)…", "tools/scripts")
        action.triggered.connect(self.run)

    def run(self):
        app = Krita.instance()
        doc = app.activeDocument()
        parent = app.activeWindow().qwindow() if app.activeWindow() else None
        if doc is None:
            QMessageBox.information(parent, "Headshot (lichtbild)", "Open a portrait first.")
            return
        try:
            dialog = HeadshotDialog(parent)
        except (OSError, LichtbildError) as err:  # the library could not be loaded
            QMessageBox.critical(parent, "Headshot (lichtbild)", str(err))
            return
        if not dialog.exec_():
            return
        try:
            result = make_headshot(doc, **dialog.values())
        except (LichtbildError, OSError) as err:  # OSError: liblichtbild missing from the folder
            QMessageBox.critical(parent, "Headshot (lichtbild)", str(err))
            return
        if dialog.values()["output"] == "document" and app.activeWindow():
            app.activeWindow().addView(result)
