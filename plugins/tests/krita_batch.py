"""Run by `kritarunner -s krita_batch -f main ARGS` (make plugins-test-krita): drives the
installed Krita plug-in through its non-interactive entry and saves what Krita has afterwards.

  main([pykrita_dir, photo, out_dir, background])

Writes, into out_dir: document.png (new document mode), layer.png (new layer mode, the document
exported), before.png/no-consent.png (the document before and after a call without consent),
dialog.png (the dialog accepted), no-consent.txt and u16.txt (the error messages the plug-in raised). The Makefile asserts on files.
"""
import os
import sys
import traceback


def main(args):
    pykrita, photo, out, background = args
    sys.path.insert(0, pykrita)
    try:
        run(photo, out, background)
    except Exception:  # noqa: BLE001 - kritarunner swallows exceptions; leave a trace for make
        with open(os.path.join(out, "crash.txt"), "w") as f:
            f.write(traceback.format_exc())
        raise


def export(doc, path):
    from krita import InfoObject
    doc.refreshProjection()
    doc.waitForDone()
    if not doc.exportImage(path, InfoObject()):
        raise RuntimeError("Krita could not export " + path)


def run(photo, out, background):
    from krita import Krita
    from lichtbild_headshot import make_headshot
    from lichtbild_headshot.lichtbild_ctypes import LichtbildError

    app = Krita.instance()

    def open_doc():
        doc = app.openDocument(photo)
        doc.setBatchmode(True)
        doc.waitForDone()
        if doc.colorModel() != "RGBA" or doc.colorDepth() != "U8":
            doc.setColorSpace("RGBA", "U8", "")
        return doc

    # 1. A new document at the preset size.
    doc = open_doc()
    new = make_headshot(doc, preset="bewerbung-45x60", background=background, consent=True,
                        output="document")
    new.setBatchmode(True)
    export(new, os.path.join(out, "document.png"))

    # 2. A new layer in the opened document.
    doc = open_doc()
    make_headshot(doc, background=background, consent=True, output="layer")
    export(doc, os.path.join(out, "layer.png"))

    # 3. No consent: the library's error, the document untouched.
    doc = open_doc()
    export(doc, os.path.join(out, "before.png"))
    try:
        make_headshot(doc, background=background, consent=False, output="layer")
        msg = "NO ERROR"
    except LichtbildError as err:
        msg = "%s: %s" % (err.code, err)
    with open(os.path.join(out, "no-consent.txt"), "w") as f:
        f.write(msg)
    export(doc, os.path.join(out, "no-consent.png"))

    # 4. The dialog: opened (offscreen Qt), consent ticked, accepted by a timer like a click on OK.
    from lichtbild_headshot.headshot import HeadshotDialog
    try:
        from PyQt5.QtCore import QTimer
    except ImportError:
        from PyQt6.QtCore import QTimer
    dialog = HeadshotDialog(None)
    dialog.background.setEditText(background)
    dialog.consent.setChecked(True)
    QTimer.singleShot(300, dialog.accept)
    if dialog.exec_():
        doc = open_doc()
        new = make_headshot(doc, **dialog.values())
        new.setBatchmode(True)
        export(new, os.path.join(out, "dialog.png"))

    # 5. A 16-bit document is refused with a message.
    doc = open_doc()
    doc.setColorSpace("RGBA", "U16", "")
    try:
        make_headshot(doc, background=background, consent=True)
        msg = "NO ERROR"
    except LichtbildError as err:
        msg = "%s: %s" % (err.code, err)
    with open(os.path.join(out, "u16.txt"), "w") as f:
        f.write(msg)
