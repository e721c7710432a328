#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters › Light and Shadow › Headshot (lichtbild)…

A GimpProcedureDialog generated from the procedure's arguments; the same arguments work from
batch mode (python-fu-eval / script-fu). Argument conversion and error mapping only: liblichtbild
(through lichtbild_ctypes.py next to this file) makes every decision.
"""
import os
import sys

import gi
gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lichtbild_ctypes import LichtbildError, headshot_rgba, preset_names  # noqa: E402

PROC = "plug-in-lichtbild-headshot"
RGBA8 = "R'G'B'A u8"
BACKGROUNDS = ["studio-grey", "light-grey", "white", "blue-grey", "anthracite", "blur", "transparent"]
RW = GObject.ParamFlags.READWRITE


def _fail(procedure, message):
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))


def run(procedure, run_mode, image, drawables, config, _data):
    if len(drawables) != 1:
        return _fail(procedure, "Headshot (lichtbild) works on one layer; select exactly one.")
    if run_mode == Gimp.RunMode.INTERACTIVE:
        GimpUi.init(PROC)
        config.set_property("consent", False)  # asked every time, never remembered
        config.set_property("consent-appearance", False)
        dialog = GimpUi.ProcedureDialog(procedure=procedure, config=config, title="Headshot (lichtbild)")
        dialog.fill(None)
        if not dialog.run():
            dialog.destroy()
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        dialog.destroy()
    drawable = drawables[0]
    w, h = drawable.get_width(), drawable.get_height()
    rgba = drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, RGBA8, Gegl.AbyssPolicy.CLAMP)
    background = config.get_property("background")
    if background == "colour":
        background = config.get_property("background-colour")
    try:
        out, ow, oh, _findings = headshot_rgba(
            rgba, w, h, config.get_property("preset"), background, config.get_property("retouch"),
            config.get_property("consent"), config.get_property("consent-appearance"))
    except (LichtbildError, OSError) as err:
        return _fail(procedure, "lichtbild: %s" % err)

    if config.get_property("new-image"):
        target = Gimp.Image.new(ow, oh, Gimp.ImageBaseType.RGB)
        target.undo_disable()
    else:
        target = image
        target.undo_group_start()
    layer = Gimp.Layer.new(target, "Headshot (lichtbild)", ow, oh, Gimp.ImageType.RGBA_IMAGE, 100.0,
                           Gimp.LayerMode.NORMAL)
    target.insert_layer(layer, None, 0)
    if ow > target.get_width() or oh > target.get_height():  # grow the canvas, never crop it
        target.resize(max(ow, target.get_width()), max(oh, target.get_height()), 0, 0)
    buf = layer.get_buffer()
    buf.set(Gegl.Rectangle.new(0, 0, ow, oh), RGBA8, out)
    buf.flush()
    layer.update(0, 0, ow, oh)
    if config.get_property("new-image"):
        target.undo_enable()
        if run_mode == Gimp.RunMode.INTERACTIVE:
            Gimp.Display.new(target)
    else:
        target.undo_group_end()
    if run_mode != Gimp.RunMode.NONINTERACTIVE:
        Gimp.displays_flush()
    return Gimp.ValueArray.new_from_values([
        GObject.Value(Gimp.PDBStatusType, Gimp.PDBStatusType.SUCCESS),
        GObject.Value(Gimp.Image, target),
        GObject.Value(Gimp.Layer, layer),
    ])


class Headshot(Gimp.PlugIn):
    def do_set_i18n(self, _name):
        return False

    def do_query_procedures(self):
        return [PROC]

    def do_create_procedure(self, name):
        Gegl.init(None)
        p = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        p.set_image_types("RGB*")  # the result is an RGBA layer
        p.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        p.set_menu_label("Headshot (lichtbild)…")
        p.add_menu_path("<Image>/Filters/Light and Shadow")
        p.set_documentation("Turn a portrait into an application headshot, on this computer",
                            "Detects the face, levels and crops the photo to a preset, replaces the "
                            "background and optionally retouches, entirely offline with liblichtbild. "
                            "Needs consent: without it nothing is analysed.", name)
        p.set_attribution("lichtbild", "lichtbild", "2026")
        presets = Gimp.Choice.new()
        for i, n in enumerate(preset_names()):
            presets.add(n, i, n, "")
        p.add_choice_argument("preset", "_Preset", "lichtbild preset", presets, "bewerbung-45x60", RW)
        bgs = Gimp.Choice.new()
        for i, n in enumerate(BACKGROUNDS + ["colour"]):
            bgs.add(n, i, n, "")
        p.add_choice_argument("background", "_Background", "Background (colour: the one below)", bgs,
                              "studio-grey", RW)
        p.add_string_argument("background-colour", "Background _colour", "#rrggbb (background = colour)",
                              "#d9dbde", RW)
        p.add_double_argument("retouch", "_Retouch", "Retouch strength 0..1 (needs consent-appearance)",
                              0.0, 1.0, 0.0, RW)
        p.add_boolean_argument("consent", "_Analyse my face to crop and level it; nothing leaves this computer",
                               "The person agreed to having the face analysed (required)", False, RW)
        p.add_boolean_argument("consent-appearance", "Retouching may change how I look",
                               "The person agreed to retouching that changes how they look", False, RW)
        p.add_boolean_argument("new-image", "New _image at the preset size (else a new layer)",
                               "Result as a new image (else a new layer in this one)", True, RW)
        p.add_image_return_value("result-image", "Result image", "The new image (or this one)", False, RW)
        p.add_layer_return_value("result-layer", "Result layer", "The layer holding the headshot", False, RW)
        return p


Gimp.main(Headshot.__gtype__, sys.argv)
