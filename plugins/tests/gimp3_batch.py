# Run by GIMP 3's python-fu-eval (`gimp-console -b - < this file`, make plugins-test-gimp3):
# calls the installed plug-in non-interactively through the PDB and saves what GIMP has after.
# LB_TEST_DIR holds photo.jpg; results go to LB_TEST_DIR/out (document.png, layer.png,
# before.png / no-consent.png around a call without consent, no-consent.txt: its error).
import os
import traceback

from gi.repository import Gimp, Gio

d = os.environ["LB_TEST_DIR"]
bg = os.environ["LB_TEST_BG"]


def load():
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(d + "/photo.jpg"))


def save(img, name):
    img.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)
    Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(d + "/out/" + name), None)


def headshot(img, consent, new_image):
    proc = Gimp.get_pdb().lookup_procedure("plug-in-lichtbild-headshot")
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", img)
    cfg.set_core_object_array("drawables", [img.get_layers()[0]])
    cfg.set_property("preset", "bewerbung-45x60")
    cfg.set_property("background", "colour")
    cfg.set_property("background-colour", bg)
    cfg.set_property("consent", consent)
    cfg.set_property("new-image", new_image)
    return proc.run(cfg)


try:
    img = load()
    r = headshot(img, True, True)
    assert r.index(0) == Gimp.PDBStatusType.SUCCESS, r.index(1)
    save(r.index(1), "document.png")

    img = load()
    r = headshot(img, True, False)
    assert r.index(0) == Gimp.PDBStatusType.SUCCESS, r.index(1)
    save(img, "layer.png")

    img = load()
    save(img, "before.png")
    r = headshot(img, False, False)
    with open(d + "/out/no-consent.txt", "w") as f:
        f.write("%s: %s" % (r.index(0).value_nick, r.index(1)))
    save(img, "no-consent.png")
except Exception:
    with open(d + "/out/crash.txt", "w") as f:
        f.write(traceback.format_exc())
finally:
    # Batch mode would otherwise wait for more commands.
    quit_proc = Gimp.get_pdb().lookup_procedure("gimp-quit")
    quit_cfg = quit_proc.create_config()
    quit_cfg.set_property("force", True)
    quit_proc.run(quit_cfg)
