/*
 * GIMP 2.10 plug-in: Filters › Light and Shadow › Headshot (lichtbild)…
 * (procedure plug-in-lichtbild-headshot). Debian 12's GIMP 2.10 has no Python-Fu, so this one
 * is C, linked against liblichtbild. Argument conversion and error mapping only: every decision
 * is the library's. The plug-in folder carries liblichtbild.so.N (found through the $ORIGIN
 * rpath) and ONNX Runtime, which is passed to the engine explicitly as its `ort_library`.
 */
#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>
#include <lichtbild.h>

#include <string.h>

#define PROC "plug-in-lichtbild-headshot"
#define BINARY "lichtbild-headshot"
#define TITLE "Headshot (lichtbild)"

typedef struct {
    gchar preset[64];
    gchar background[64];
    gdouble retouch;
    gint consent;            /* face geometry: detect and measure the face */
    gint consent_appearance; /* retouching that changes how the person looks */
    gint new_image;          /* 1: a new image at the preset size; 0: a new layer */
} Args;

static Args last = {"bewerbung-45x60", "studio-grey", 0.0, 0, 0, 1};

static void query(void);
static void run(const gchar *, gint, const GimpParam *, gint *, GimpParam **);
const GimpPlugInInfo PLUG_IN_INFO = {NULL, NULL, query, run};
MAIN()

static void query(void) {
    static const GimpParamDef args[] = {
        {GIMP_PDB_INT32, "run-mode", "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1) }"},
        {GIMP_PDB_IMAGE, "image", "Input image"},
        {GIMP_PDB_DRAWABLE, "drawable", "The portrait layer of an RGB image (any precision; read as 8-bit RGBA)"},
        {GIMP_PDB_STRING, "preset", "lichtbild preset, e.g. \"bewerbung-45x60\" (531x709 px)"},
        {GIMP_PDB_STRING, "background", "studio-grey, white, \"#rrggbb\", blur, transparent, ... (\"\" = the preset's)"},
        {GIMP_PDB_FLOAT, "retouch", "Retouch strength 0..1 (needs consent-appearance)"},
        {GIMP_PDB_INT32, "consent", "1 = the person agreed to having the face analysed to crop and level it (required)"},
        {GIMP_PDB_INT32, "consent-appearance", "1 = the person agreed to retouching that changes how they look"},
        {GIMP_PDB_INT32, "new-image", "1 = result as a new image at the preset size, 0 = as a new layer"},
    };
    static const GimpParamDef rets[] = {
        {GIMP_PDB_IMAGE, "result-image", "The new image (or the input image, new-image = 0)"},
        {GIMP_PDB_LAYER, "result-layer", "The layer holding the headshot"},
    };
    gimp_install_procedure(PROC, "Turn a portrait into an application headshot, on this computer",
                           "Detects the face, levels and crops the photo to a preset, replaces the "
                           "background and optionally retouches, entirely offline with liblichtbild. "
                           "Needs consent = 1: without it nothing is analysed.",
                           "lichtbild", "lichtbild", "2026", TITLE "…", "RGB*",
                           GIMP_PLUGIN, G_N_ELEMENTS(args), G_N_ELEMENTS(rets), args, rets);
    gimp_plugin_menu_register(PROC, "<Image>/Filters/Light and Shadow");
}

/* The ONNX Runtime in this plug-in's folder, as the engine config's ort_library. */
static gchar *engine_config(void) {
    gchar *exe = g_file_read_link("/proc/self/exe", NULL);
    gchar *dir = exe ? g_path_get_dirname(exe) : NULL;
    gchar *ort = NULL;
    GDir *d = dir ? g_dir_open(dir, 0, NULL) : NULL;
    const gchar *name;
    while (d && (name = g_dir_read_name(d)))
        if (g_str_has_prefix(name, "libonnxruntime.so.") && !ort) ort = g_build_filename(dir, name, NULL);
    if (d) g_dir_close(d);
    /* One photo: one worker, which then gets every core for it. */
    gchar *json = NULL;
    if (ort) {
        gchar *escaped = g_strescape(ort, NULL); /* JSON-compatible for \ and " */
        json = g_strdup_printf("{\"workers\": 1, \"ort_library\": \"%s\"}", escaped);
        g_free(escaped);
    } else {
        json = g_strdup("{\"workers\": 1}"); /* the library's own ORT search (next to liblichtbild, ORT_DYLIB_PATH, ...) */
    }
    g_free(ort), g_free(dir), g_free(exe);
    return json;
}

static gboolean dialog(Args *a) {
    gimp_ui_init(BINARY, FALSE);
    GtkWidget *dlg = gimp_dialog_new(TITLE, BINARY, NULL, 0, gimp_standard_help_func, PROC,
                                     "_Cancel", GTK_RESPONSE_CANCEL, "_OK", GTK_RESPONSE_OK, NULL);
    GtkWidget *box = gtk_vbox_new(FALSE, 6);
    gtk_container_set_border_width(GTK_CONTAINER(box), 12);
    gtk_box_pack_start(GTK_BOX(gtk_dialog_get_content_area(GTK_DIALOG(dlg))), box, TRUE, TRUE, 0);

    GtkWidget *table = gtk_table_new(3, 2, FALSE);
    gtk_table_set_col_spacings(GTK_TABLE(table), 6);
    gtk_table_set_row_spacings(GTK_TABLE(table), 6);
    gtk_box_pack_start(GTK_BOX(box), table, FALSE, FALSE, 0);

    GtkWidget *preset = gtk_combo_box_text_new_with_entry();
    /* The built-in preset names, from the library's compact JSON (`"name":"..."`). */
    const char *json = lb_presets_json();
    for (const char *p = json; p && (p = strstr(p, "\"name\":\"")); ) {
        p += 8;
        const char *end = strchr(p, '"');
        if (!end) break;
        gchar *n = g_strndup(p, end - p);
        gtk_combo_box_text_append_text(GTK_COMBO_BOX_TEXT(preset), n);
        g_free(n);
        p = end;
    }
    gtk_entry_set_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(preset))), a->preset);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, 0, "_Preset:", 0.0, 0.5, preset, 1, FALSE);

    GtkWidget *bg = gtk_combo_box_text_new_with_entry();
    static const char *bgs[] = {"studio-grey", "light-grey", "white", "blue-grey", "anthracite", "blur", "transparent", NULL};
    for (int i = 0; bgs[i]; i++) gtk_combo_box_text_append_text(GTK_COMBO_BOX_TEXT(bg), bgs[i]);
    gtk_entry_set_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(bg))), a->background);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, 1, "_Background:", 0.0, 0.5, bg, 1, FALSE);

    GtkWidget *retouch = gtk_spin_button_new_with_range(0.0, 1.0, 0.1);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(retouch), a->retouch);
    gimp_table_attach_aligned(GTK_TABLE(table), 0, 2, "_Retouch:", 0.0, 0.5, retouch, 1, FALSE);

    GtkWidget *consent = gtk_check_button_new_with_mnemonic(
        "_Analyse my face to crop and level it; nothing leaves this computer");
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(consent), a->consent);
    gtk_box_pack_start(GTK_BOX(box), consent, FALSE, FALSE, 0);
    GtkWidget *appearance = gtk_check_button_new_with_mnemonic(
        "Retouching may change how I look (needed for retouch > 0)");
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(appearance), a->consent_appearance);
    gtk_box_pack_start(GTK_BOX(box), appearance, FALSE, FALSE, 0);
    GtkWidget *as_image = gtk_radio_button_new_with_mnemonic(NULL, "New _image at the preset size");
    GtkWidget *as_layer = gtk_radio_button_new_with_mnemonic_from_widget(GTK_RADIO_BUTTON(as_image), "New _layer in this image");
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(a->new_image ? as_image : as_layer), TRUE);
    gtk_box_pack_start(GTK_BOX(box), as_image, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), as_layer, FALSE, FALSE, 0);

    gtk_widget_show_all(dlg);
    gboolean ok = gimp_dialog_run(GIMP_DIALOG(dlg)) == GTK_RESPONSE_OK;
    if (ok) {
        g_strlcpy(a->preset, gtk_entry_get_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(preset)))), sizeof a->preset);
        g_strlcpy(a->background, gtk_entry_get_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(bg)))), sizeof a->background);
        a->retouch = gtk_spin_button_get_value(GTK_SPIN_BUTTON(retouch));
        a->consent = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(consent));
        a->consent_appearance = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(appearance));
        a->new_image = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(as_image));
    }
    gtk_widget_destroy(dlg);
    return ok;
}

/* Runs lichtbild on the drawable; on failure returns FALSE with *error set (image untouched). */
static gboolean headshot(gint32 image, gint32 drawable, const Args *a, gint32 *out_image,
                         gint32 *out_layer, gchar **error) {
    gint w = gimp_drawable_width(drawable), h = gimp_drawable_height(drawable);
    const Babl *rgba8 = babl_format("R'G'B'A u8");
    guchar *pixels = g_try_malloc((gsize)w * h * 4);
    if (!pixels) {
        *error = g_strdup("Not enough memory for the image.");
        return FALSE;
    }
    GeglBuffer *buf = gimp_drawable_get_buffer(drawable);
    gegl_buffer_get(buf, GEGL_RECTANGLE(0, 0, w, h), 1.0, rgba8, pixels, GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
    g_object_unref(buf);

    gchar *config = engine_config();
    lb_engine *engine = NULL;
    lb_result *res = NULL;
    lb_status st = lb_engine_new(config, &engine);
    g_free(config);
    if (st == LB_OK) {
        lb_options o = lb_options_default();
        o.preset = a->preset[0] ? a->preset : NULL;
        o.background = a->background[0] ? a->background : NULL;
        o.retouch = (float)a->retouch;
        o.consent = (a->consent ? LB_CONSENT_FACE_GEOMETRY : 0) | (a->consent_appearance ? LB_CONSENT_APPEARANCE : 0);
        o.format = LB_FORMAT_PIXELS;
        st = lb_process_pixels(engine, pixels, (size_t)w * h * 4, w, h, 0, LB_PIXEL_RGBA8, &o, &res);
    }
    memset(pixels, 0, (gsize)w * h * 4); /* the portrait does not linger in this process */
    g_free(pixels);
    if (st != LB_OK) {
        *error = g_strdup_printf("lichtbild: %s", lb_last_error_message());
        lb_engine_free(engine);
        return FALSE;
    }
    gint ow = lb_result_width(res), oh = lb_result_height(res);
    gint32 target = image;
    if (a->new_image) {
        target = gimp_image_new(ow, oh, GIMP_RGB);
        gimp_image_undo_disable(target);
    } else {
        gimp_image_undo_group_start(target);
    }
    gint32 layer = gimp_layer_new(target, TITLE, ow, oh, GIMP_RGBA_IMAGE, 100, GIMP_LAYER_MODE_NORMAL);
    gimp_image_insert_layer(target, layer, 0, 0);
    if (!a->new_image && (ow > gimp_image_width(target) || oh > gimp_image_height(target)))
        gimp_image_resize(target, MAX(ow, gimp_image_width(target)), MAX(oh, gimp_image_height(target)), 0, 0);
    GeglBuffer *dst = gimp_drawable_get_buffer(layer);
    gegl_buffer_set(dst, GEGL_RECTANGLE(0, 0, ow, oh), 0, rgba8, lb_result_data(res), GEGL_AUTO_ROWSTRIDE);
    gegl_buffer_flush(dst);
    g_object_unref(dst);
    gimp_drawable_update(layer, 0, 0, ow, oh);
    if (a->new_image) gimp_image_undo_enable(target);
    else gimp_image_undo_group_end(target);
    lb_result_free(res);
    lb_engine_free(engine);
    *out_image = target;
    *out_layer = layer;
    return TRUE;
}

static void run(const gchar *name, gint nparams, const GimpParam *param, gint *nreturn_vals,
                GimpParam **return_vals) {
    static GimpParam values[3];
    static gchar *error = NULL;
    (void)name;
    gegl_init(NULL, NULL);
    GimpRunMode mode = param[0].data.d_int32;
    gint32 image = param[1].data.d_image, drawable = param[2].data.d_drawable;
    Args a = last;
    gimp_get_data(PROC, &a);
    *nreturn_vals = 1;
    *return_vals = values;
    values[0].type = GIMP_PDB_STATUS;
    values[0].data.d_status = GIMP_PDB_SUCCESS;

    if (mode == GIMP_RUN_NONINTERACTIVE) {
        if (nparams != 9) {
            values[0].data.d_status = GIMP_PDB_CALLING_ERROR;
            return;
        }
        /* Consent comes from the caller on every call, never from stored settings. */
        g_strlcpy(a.preset, param[3].data.d_string ? param[3].data.d_string : "", sizeof a.preset);
        g_strlcpy(a.background, param[4].data.d_string ? param[4].data.d_string : "", sizeof a.background);
        a.retouch = param[5].data.d_float;
        a.consent = param[6].data.d_int32;
        a.consent_appearance = param[7].data.d_int32;
        a.new_image = param[8].data.d_int32;
    } else if (mode == GIMP_RUN_INTERACTIVE) {
        a.consent = a.consent_appearance = 0; /* asked every time */
        if (!dialog(&a)) {
            values[0].data.d_status = GIMP_PDB_CANCEL;
            return;
        }
    } else {
        a.consent = a.consent_appearance = 0; /* with last values: consent is never repeated */
    }

    gint32 out_image = -1, out_layer = -1;
    g_free(error);
    error = NULL;
    if (!headshot(image, drawable, &a, &out_image, &out_layer, &error)) {
        values[0].data.d_status = GIMP_PDB_EXECUTION_ERROR;
        values[1].type = GIMP_PDB_STRING;
        values[1].data.d_string = error;
        *nreturn_vals = 2;
        return;
    }
    Args keep = a;
    keep.consent = keep.consent_appearance = 0;
    gimp_set_data(PROC, &keep, sizeof keep);
    if (mode == GIMP_RUN_INTERACTIVE && a.new_image) gimp_display_new(out_image);
    if (mode != GIMP_RUN_NONINTERACTIVE) gimp_displays_flush();
    values[1].type = GIMP_PDB_IMAGE;
    values[1].data.d_image = out_image;
    values[2].type = GIMP_PDB_LAYER;
    values[2].data.d_layer = out_layer;
    *nreturn_vals = 3;
}
