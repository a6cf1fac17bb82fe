"""dlor verify --html and dlor reproduce --html: the pages are self-contained,
well-formed, say what the JSON reports say, and render in headless Chromium
without errors and not blank.

Pages: the digits sample converted exactly (mul), at --budget 0.5 (a compressed
layer without a per-layer tolerance, two layers kept dense), in the wide add form,
and one that fails its tolerance; the sawtooth's network form (structure and end-
to-end figures instead of layer error bars); the reproduce page (Figures 2a/3a on
log-log axes with every curve's points where its JSON puts them, 2b/3b, Table 1
against the paper, the spectral split, the targets, the notes); plus the
renderer's own sample page written by test_html_report (NaN/Inf/0 on log axes,
hostile names) and a reproduce page from a hand-made report (test_reproduce_html:
a mismatch, a missed target, a failed construction).

Browser checks (tests/html_browser.py, through the DevTools pipe): no console
error or warning, no uncaught exception, no browser log error, exactly one
request per page (itself); no text label overlapping another or leaving its
chart, fonts of at least 10 px, no horizontal scrolling at 1280 px, neither of the
page nor inside a table's box (a table that does not fit would hide its last
columns: a page with wide layers of long names shows it fits); screenshots
that are not blank (share of non-white pixels, number of colours). A canary
page with a deliberate console error, exception and missing image, and a blank
page, show that the checks can fail.

Screenshots for inspection: tests/tmp/html/*.png in the build tree.
"""
import json
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import html_browser  # noqa: E402
from dlor_testlib import SRC, check, finish, run, scratch  # noqa: E402

TMP, _, path = scratch("html")  # path(n) removes an existing n
UNIT = os.environ.get("DLOR_HTML_UNIT")
SVGNS = "{http://www.w3.org/2000/svg}"
digits = os.path.join(SRC, "samples", "digits")
dsrc = os.path.join(digits, "digits.safetensors")
xin, yin = os.path.join(digits, "x_test.npy"), os.path.join(digits, "y_test.npy")


def fmt3(v):
    """dlor_html_format_num: 3 significant digits, compact exponent, '-' for NaN/null."""
    if v is None:
        return "-"
    a = abs(v)
    if a != 0 and (a < 1e-3 or a >= 1e6):
        s = "%.3g" % v
    else:
        s = "%.0f" % v if a >= 1000 else "%.3g" % v
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", s)


def text(el):
    return "".join(el.itertext()).strip()


def static_checks(tag, page):
    """Self-containment and well-formedness; returns the parsed tree (or None)."""
    links = re.findall(r"https?://[^\s\"'<>)]*", page)
    check(all(u == "http://www.w3.org/2000/svg" for u in links), f"{tag}: only the SVG namespace URL: {set(links)}")
    for bad in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "src=", "href=", "@import"):
        check(bad not in page, f"{tag}: contains {bad}")
    check(all(u.startswith("url(#") for u in re.findall(r"url\([^)]*\)", page)), f"{tag}: url() only to ids")
    check(page.startswith("<!DOCTYPE html>\n"), f"{tag}: HTML5 doctype")
    try:
        root = ET.fromstring(page[len("<!DOCTYPE html>\n"):])
    except ET.ParseError as e:
        check(False, f"{tag}: not well-formed XML: {e}")
        return None
    svgs = root.findall(f".//{SVGNS}svg")
    check(len(svgs) > 0, f"{tag}: has charts")
    for s in svgs:
        for el in s.iter():
            for k, v in el.attrib.items():
                if k in ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "width", "height", "d"):
                    check(re.fullmatch(r"[-0-9. MLHVZ]*", v) is not None and "nan" not in v.lower(),
                          f"{tag}: <{el.tag} {k}='{v[:40]}'> is not a finite coordinate")
    return root


def layer_rows(root):
    for t in root.iter("table"):
        head = [text(th) for th in t.iter("th")]
        if head[:2] == ["layer", "shape"]:
            return {text(tr[0]): [text(td) for td in tr] for tr in t.find("tbody")}
    return {}


def layer_order(root):
    for t in root.iter("table"):
        if [text(th) for th in t.iter("th")][:2] == ["layer", "shape"]:
            return [text(tr[0]) for tr in t.find("tbody")]
    return []


def verify_page(tag, dl, *args, expect_rc=0):
    """Runs verify with --json and --html; returns (report, page text, tree)."""
    html, js = path(f"{tag}.html"), path(f"{tag}.json")
    rc, so, se = run("verify", dsrc, dl, "--json", js, "--html", html, *args)
    check(rc == expect_rc, f"{tag}: verify exit {rc}, expected {expect_rc}: {se}")
    if not check(os.path.exists(html) and os.path.exists(js), f"{tag}: report files written"):
        return None, "", None
    rep = json.load(open(js))
    page = open(html, encoding="utf-8").read()
    root = static_checks(tag, page)
    if root is None:
        return rep, page, None
    # verdict, totals, end to end: as in the JSON report
    badge = [text(s) for s in root.iter("span") if "badge" in s.get("class", "")]
    check(badge == ["PASS" if rep["pass"] else "FAIL"], f"{tag}: verdict badge {badge}")
    flat = " ".join(text(el) for el in root.iter("td"))
    check(f"{rep['params_dense_total']} dense \u2192 {rep['params_dlor_total']} DLoR" in flat,
          f"{tag}: parameter totals")
    check(f"{rep['bytes_dense_total']} dense \u2192 {rep['bytes_dlor_total']} DLoR" in flat, f"{tag}: byte totals")
    e2e = rep.get("end_to_end")
    if e2e and "accuracy_dense" in e2e:
        acc = f"dense {100 * e2e['accuracy_dense']:.2f}%, DLoR {100 * e2e['accuracy_dlor']:.2f}%"
        check(acc in flat, f"{tag}: accuracy '{acc}' shown")
        check(fmt3(e2e["max_abs_error"]) in flat, f"{tag}: end-to-end max abs error shown")
    # the per-layer table
    rows = layer_rows(root)
    check(len(rows) == len(rep["layers"]), f"{tag}: one table row per layer")
    check(layer_order(root) == [L["name"] for L in rep["layers"]], f"{tag}: the table lists layers as the JSON does")
    # the spectra: each layer's two charts stack on narrow pages, so the text says first / second, not left / right
    check("Left:" not in page and "Right:" not in page and "first chart" in page, f"{tag}: spectra wording")
    for L in rep["layers"]:
        r = rows.get(L["name"])
        if not check(r is not None, f"{tag}: row for {L['name']}"):
            continue
        check(r[6] == fmt3(L["rel_fro_error"]), f"{tag} {L['name']}: rel. error {r[6]} vs {L['rel_fro_error']}")
        check(r[7] == ("none" if L["tol"] is None else fmt3(L["tol"])), f"{tag} {L['name']}: tolerance {r[7]}")
        check(r[2] == L["form"], f"{tag} {L['name']}: form {r[2]}")
        check(r[12].startswith("ok") == L["pass"], f"{tag} {L['name']}: status {r[12]}")
    # the error chart: bars coloured against each layer's tolerance, one mark per tolerance
    svgs = root.findall(f".//{SVGNS}svg")
    err = svgs[0]
    cls = [el.get("class", "") for el in err.iter()]
    with_tol = [L for L in rep["layers"] if L["tol"] is not None]
    check(cls.count("thr") == len(with_tol), f"{tag}: {cls.count('thr')} tolerance marks for {len(with_tol)} layers")
    drawn = [L for L in rep["layers"] if L["rel_fro_error"] > 0]
    check(cls.count("bar pass") + cls.count("bar fail") + cls.count("bar no-thr") == len(drawn),
          f"{tag}: one error bar per layer with a nonzero error")
    check(cls.count("bar fail") == sum(1 for L in drawn if not L["pass"]), f"{tag}: failing layers drawn red")
    check(cls.count("bar no-thr") == sum(1 for L in drawn if L["tol"] is None), f"{tag}: layers without tolerance")
    # spectra: two charts per DLoR layer, one per layer kept dense, after the error and size charts
    nd = sum(1 for L in rep["layers"] if L["form"] == "dense")
    want = 1 + 2 + 2 * (len(rep["layers"]) - nd) + nd
    check(len(svgs) == want, f"{tag}: {len(svgs)} charts, expected {want}")
    devs = [float(x) for x in re.findall(r"from sigma_j: ([-+0-9.e]+) of sigma_1", page)]
    nsplit = sum(1 for L in rep["layers"] if L["form"] != "dense" and not (L["method"] == "add" and L["factors"] > 1))
    check(len(devs) == nsplit and all(d <= 1e-12 for d in devs),
          f"{tag}: {nsplit} identity / low-rank splits adding up to sigma: {devs}")
    return rep, page, root


# ---- the pages ------------------------------------------------------------------------------------
pages = {}
exact, budget, add = path("digits-exact.dlor"), path("digits-budget.dlor"), path("digits-add.dlor")
rc, so, se = run("convert", dsrc, "-o", exact, "--activation", "relu")
check(rc == 0, f"convert exact: {se}")
rc, so, se = run("convert", dsrc, "-o", budget, "--activation", "relu", "--budget", "0.5")
check(rc == 0, f"convert budget: {se}")
rc, so, se = run("convert", dsrc, "-o", add, "--activation", "relu", "--method", "add", "--rank", "8")
check(rc == 0, f"convert add: {se}")

rep, page, root = verify_page("exact", exact, "--inputs", xin, "--labels", yin)
pages["exact"] = rep is not None
if root is not None:
    check(page.count(">Split of the first factor M_1") == 3, "exact: a Figure 2c split per mul layer")
rep, page, root = verify_page("budget", budget, "--inputs", xin, "--labels", yin)
pages["budget"] = rep is not None
if root is not None:
    check(any(L["tol"] is None for L in rep["layers"]), "budget: a compressed layer has no per-layer tolerance")
    check([L["name"] for L in rep["layers"]] == ["0.weight", "2.weight", "4.weight"] and
          layer_order(root) == ["0.weight", "2.weight", "4.weight"],
          f"budget: layers in model order, kept-dense ones in place: {layer_order(root)}")
    check("identity part |beta|" in page and "low-rank part P Q^T" in page and
          "Identity and low-rank contributions to sigma_j" in page, "budget: beta I + P Q^T split (Figure 2c)")
rep, page, root = verify_page("add", add)
pages["add"] = rep is not None
if root is not None:
    check(page.count(">Per-branch contributions of the") == 3, "add: a per-branch chart per layer (Figure 3c)")
    check("branches 8-16" in page, "add: branches beyond the eighth summed in the legend")
    stacked = [el for el in root.iter(f"{SVGNS}rect") if el.get("class") == "bar"]
    check(len(stacked) >= 64 + 128 + 10, f"add: a stacked segment per direction ({len(stacked)})")
rep, page, root = verify_page("fail", exact, "--tol", "1e-9", expect_rc=1)
pages["fail"] = rep is not None
if root is not None:
    check(not rep["pass"] and "bar fail" in page, "fail: FAIL page with red bars")

# wide layers with long names and large counts: the per-layer table must still fit its box at 1280 px
wsrc, wide = os.path.join(TMP, "wide.safetensors"), path("digits-wide.dlor")
wrng = np.random.default_rng(5)
save_file({f"model.layers.{i}.mlp.down_proj.weight": wrng.standard_normal((40, 30000)).astype(np.float32)
           for i in range(2)}, wsrc)
rc, so, se = run("convert", wsrc, "-o", wide, "--method", "lowrank", "--rank", "3", "--dtype", "f16")
check(rc == 0, f"convert wide: {se}")
rc, so, se = run("verify", wsrc, wide, "--html", path("wide.html"))
pages["wide"] = check(rc == 0 and os.path.exists(os.path.join(TMP, "wide.html")), f"verify wide --html: {rc} {se}")
if pages["wide"]:
    static_checks("wide", open(os.path.join(TMP, "wide.html"), encoding="utf-8").read())

# stdout, and failures that must not leave or clobber a file
rc, so, se = run("verify", dsrc, exact, "--html", "-", "-q")
check(rc == 0 and so.startswith("<!DOCTYPE html>") and so.rstrip().endswith("</html>") and se.rstrip().endswith("PASS"),
      "--html - writes the page alone to stdout, the verdict to stderr")
rc, so, se = run("verify", dsrc, exact, "--html", os.path.join(TMP, "no-such-dir", "r.html"))
check(rc == 1 and "no-such-dir" in se, f"unwritable --html path fails naming it: {se}")
keep = path("keep.html")
with open(keep, "w") as f:
    f.write("previous report")
rc, so, se = run("verify", dsrc, os.path.join(TMP, "missing.dlor"), "--html", keep)
check(rc == 1 and open(keep).read() == "previous report", "a failed verify leaves an existing page alone")
both = path("both.html")
rc, so, se = run("verify", dsrc, exact, "--html", both, "--json", os.path.join(TMP, "no-such-dir", "r.json"))
check(rc == 1 and not os.path.exists(both), "the page is not kept when the JSON report cannot be written")
check(not [n for n in os.listdir(TMP) if ".tmp." in n], "no temporary files left behind")

# ---- dlor reproduce --html: the paper's figures, Table 1, the targets, as the JSON report has them ----
saw = os.path.join(SRC, "samples", "sawtooth")


def legend(svg):
    return [text(t) for t in svg.iter(f"{SVGNS}text") if t.get("class") == "legend"]


def paths(svg):
    """{series name: (d attribute, dash attribute)} of the series paths of a chart."""
    out = {}
    for g in svg.iter(f"{SVGNS}g"):
        if g.get("class") != "series":
            continue
        for pth in g.iter(f"{SVGNS}path"):
            t = pth.find(f"{SVGNS}title")
            out.setdefault(t.text if t is not None else "", []).append((pth.get("d"), pth.get("stroke-dasharray")))
    return out


def vertices(d):
    return [tuple(map(float, v.split())) for v in re.findall(r"[ML]([-0-9. ]+)", d)]


def table_by_head(root, first):
    for t in root.iter("table"):
        head = [text(th) for th in t.iter("th")]
        if head and head[0] == first:
            return head, [([text(td) for td in tr], tr.get("class")) for tr in t.find("tbody")]
    return None, []


rep_html, rep_json = path("reproduce.html"), path("reproduce.json")
rc, so, se = run("reproduce", "--sample", saw, "--html", rep_html, "--json", rep_json, "--epochs", "2000", "-q")
pages["reproduce"] = check(rc == 0 and os.path.exists(rep_html) and os.path.exists(rep_json),
                           f"reproduce --html: rc {rc} {se} {so[-300:]}")
if pages["reproduce"]:
    rj = json.load(open(rep_json))
    page = open(rep_html, encoding="utf-8").read()
    root = static_checks("reproduce", page)
    if root is not None:
        svgs = root.findall(f".//{SVGNS}svg")
        check(len(svgs) == 3 + 2 * len(rj["approximation"]) + 1,
              f"reproduce: 3 error-vs-h charts, 2 per approximation, 1 split: {len(svgs)}")
        check("Left:" not in page and "the first chart shows" in page,
              "reproduce: the charts of a pair stack on narrow pages: no left / right in the text")
        heads = [text(h2) for h2 in root.iter("h2")]
        for want in ("Figures 2a and 3a", "Figures 2b and 3b", "Table 1", "Experiment 3", "Targets",
                     "Where our numbers differ"):
            check(any(h2.startswith(want) for h2 in heads), f"reproduce: a section '{want}': {heads}")
        # Figures 2a / 3a: log-log axes, f64 solid with dots, f32 dashed, the curves' own points
        want_legend = [["alpha 0.8, f64", "alpha 0.8, f32", "alpha auto, f64", "alpha auto, f32"],
                       ["alpha 0.8, f64", "alpha 0.8, f32", "alpha auto, f64", "alpha auto, f32"],
                       ["paper's beta, f64", "paper's beta, f32", "paired beta, f64", "paired beta, f32"]]
        charts = [("deep", "schur"), ("deep", "random"), ("wide", None)]
        for k, (con, basis) in enumerate(charts):
            svg = svgs[k]
            lg = legend(svg)
            check(all(w in lg for w in want_legend[k]), f"reproduce chart {k}: legend {lg}")
            labels = [text(t) for t in svg.iter(f"{SVGNS}text") if t.get("class", "").startswith("axis-label")]
            check(any("h (log" in a for a in labels) and any("log scale" in a and "error" in a for a in labels),
                  f"reproduce chart {k}: axis titles {labels}")
            ticks = [text(t) for t in svg.iter(f"{SVGNS}text") if t.get("class") == "tick"]
            check(sum(t.startswith("10") for t in ticks) >= 6, f"reproduce chart {k}: decade ticks {ticks}")
            ps = paths(svg)
            for cv in rj["curves"]:
                if cv["construction"] != con or (basis and cv["basis"] != basis) or cv["seed"] != 0 or cv["failed"]:
                    continue
                what = f"{cv['beta']} beta" if cv["beta"] else f"alpha {cv['alpha']}"
                what = what.replace("paper beta", "paper's beta")
                for prec in ("f64", "f32"):
                    name = f"{what}, {prec}"
                    got = ps.get(name)
                    if not check(got is not None and len(got) == 1, f"reproduce chart {k}: a path for {name}"):
                        continue
                    d, dash = got[0]
                    check((dash is None) == (prec == "f64"), f"reproduce {name}: f64 solid, f32 dashed ({dash})")
                    pts = [(p["h"], p["err_" + prec]) for p in cv["points"]]
                    good = [(h, e) for h, e in pts if e is not None and e > 0 and math.isfinite(e)]
                    vs = vertices(d)
                    check(len(vs) == len(good), f"reproduce {name}: {len(vs)} vertices for {len(good)} drawable points")
                    if len(vs) == len(good) and len(vs) >= 3:
                        # log axes: pixel positions affine in log10 h and log10 error (0.1 px rounding)
                        (x0, y0), (x1, y1) = vs[0], vs[-1]
                        lh0, lh1 = math.log10(good[0][0]), math.log10(good[-1][0])
                        le = [math.log10(e) for _, e in good]
                        j = max(range(len(le)), key=lambda i: abs(le[i] - le[0]))
                        ax = (x1 - x0) / (lh1 - lh0)
                        ay = (vs[j][1] - y0) / (le[j] - le[0]) if le[j] != le[0] else 0
                        worst = max(max(abs(x0 + ax * (math.log10(h) - lh0) - vx),
                                        abs(y0 + ay * (math.log10(e) - le[0]) - vy))
                                    for (h, e), (vx, vy) in zip(good, vs))
                        check(ax > 0 and ay < 0 and worst <= 0.2,
                              f"reproduce {name}: points on log-log axes (worst {worst:.2f} px)")
        # Figures 2b / 3b: target, dense and network curves on linear axes
        for i, a in enumerate(rj["approximation"]):
            svg = svgs[3 + 2 * i]
            lg = legend(svg)
            check("sawtooth (target)" in lg and "dense MLP" in lg and
                  sum(t.startswith("network, h = ") for t in lg) == len(a["series"]),
                  f"reproduce {a['construction']} approximation: legend {lg}")
            ticks = [text(t) for t in svg.iter(f"{SVGNS}text") if t.get("class") == "tick"]
            check("-2" in ticks and "2" in ticks and "0.5" in ticks, f"reproduce approximation: linear ticks {ticks}")
        # Table 1: our counts beside the paper's, mismatches marked
        head, rows = table_by_head(root, "k")
        check(len(rows) == len(rj["table1"]), f"reproduce: Table 1 has {len(rows)} rows")
        for (cells, cls), t in zip(rows, rj["table1"]):
            nums = [int(c.split()[0]) for c in cells[:10]]
            check(nums == [t["k"], t["rank"], t["dense_width"], t["dense"], t["paper_dense"], t["deep"], t["paper_deep"],
                           t["wide"], t["paper_wide"], t["wide_formula"]], f"reproduce Table 1 row {cells}")
            bad = [w for w in ("dense", "deep", "wide") if t[w] != t["paper_" + w]]
            check((cls == "fail") == bool(bad) and cells[10] == ("differs: " + ", ".join(bad) if bad else "matches"),
                  f"reproduce Table 1 k = {t['k']}: marked {cells[10]!r} ({cls})")
        # the targets with pass / fail, the notes
        head, rows = table_by_head(root, "target")
        check([c[0] for c, _ in rows] == [t["name"] for t in rj["targets"]] and
              [c[4] for c, _ in rows] == ["PASS" if t["pass"] else "FAIL" for t in rj["targets"]],
              f"reproduce: the targets table {rows}")
        paras = [text(p) for p in root.iter("p")]
        check(all(n in paras for n in rj["notes"]), "reproduce: every note of the JSON report is on the page")
        devs = [float(v) for v in re.findall(r"from sigma_j: ([-+0-9.e]+) of sigma_1", page)]
        check(len(devs) == 1 and devs[0] <= 1e-12, f"reproduce: the spectral split adds up to sigma ({devs})")
rc, so, se = run("reproduce", "--sample", saw, "--html", os.path.join(TMP, "no-such-dir", "r.html"), "-q",
                 "--step", "1", "--seeds", "1", "--epochs", "10")
check(rc == 1 and "no-such-dir" in se and "targets" not in so, f"reproduce: an unwritable --html path fails naming it: {se}")
rc, so, se = run("reproduce", "--json", "-", "--html", "-")
check(rc == 2, "reproduce: --json - and --html - together is a usage error")

# ---- dlor verify --html on a network-form file: structure and end-to-end figures ----------------
netf, net_html, net_json = path("saw-deep.dlor"), path("network.html"), path("network.json")
sst = os.path.join(saw, "sawtooth.safetensors")
rc, so, se = run("convert", sst, "-o", netf, "--activation", "softplus", "--form", "network", "--rank", "6",
                 "--dtype", "f64", "--h", "1e-3")
check(rc == 0, f"convert the sawtooth to a network form: {se}")
rc, so, se = run("verify", sst, netf, "--inputs", os.path.join(saw, "x_test.npy"), "--html", net_html, "--json", net_json)
pages["network"] = check(rc == 0 and os.path.exists(net_html), f"verify --html on a network form: {rc} {se}")
if pages["network"]:
    nj = json.load(open(net_json))
    page = open(net_html, encoding="utf-8").read()
    root = static_checks("network", page)
    if root is not None:
        badge = [text(sp) for sp in root.iter("span") if "badge" in sp.get("class", "")]
        check(badge == ["PASS"], f"network: verdict {badge}")
        flat = " ".join(text(el) for el in root.iter("td"))
        n = nj["network"]
        check(f"{n['params_dense_total']} dense \u2192 {n['params_network_total']} network" in flat and
              f"{n['bytes_dense_total']} dense \u2192 {n['bytes_network_total']} network" in flat,
              "network: parameter and byte totals as in the JSON report")
        check(fmt3(nj["end_to_end"]["max_abs_error"]) in flat, "network: the end-to-end max abs error shown")
        head, rows = table_by_head(root, "dense layer")
        check([c[0] for c, _ in rows] == [L["name"] for L in n["layers"]] and
              [c[2] for c, _ in rows] == [L["form"] for L in n["layers"]] and
              [int(c[3]) for c, _ in rows] == [L["components"] for L in n["layers"]],
              f"network: the structure table {rows}")
        check("Per-layer error bars are not applicable" in page, "network: says layer error bars do not apply")
        check(not any(el.get("class", "").startswith("bar pass") for el in root.iter()), "network: no error bars")

# the renderer's sample page
unit_page = None
if check(UNIT is not None, "DLOR_HTML_UNIT names test_html_report"):
    up = path("renderer.html")
    r = subprocess.run([UNIT, up], capture_output=True, text=True)
    check(r.returncode == 0, f"test_html_report {up}: {r.stdout[-500:]} {r.stderr[-2000:]}")
    if os.path.exists(up):
        unit_page = up
        static_checks("renderer", open(up, encoding="utf-8").read())
REPRO_UNIT = os.environ.get("DLOR_REPRO_UNIT")
synth_page = None
if check(REPRO_UNIT is not None, "DLOR_REPRO_UNIT names test_reproduce_html"):
    sp_ = path("reproduce-synthetic.html")
    r = subprocess.run([REPRO_UNIT, sp_], capture_output=True, text=True)
    check(r.returncode == 0, f"test_reproduce_html {sp_}: {r.stdout[-500:]} {r.stderr[-2000:]}")
    if os.path.exists(sp_):
        synth_page = sp_
        static_checks("reproduce-synthetic", open(sp_, encoding="utf-8").read())

# ---- in the browser ---------------------------------------------------------------------------------
LAYOUT = r"""(() => {
  const out = {svgs: 0, small: 0, overlaps: [], outside: [], minFont: 100,
               width: document.documentElement.scrollWidth, cut: []};
  for (const w of document.querySelectorAll('.tablewrap'))
    if (w.scrollWidth > w.clientWidth + 1)
      out.cut.push(w.querySelector('th, td').textContent + ': ' + w.scrollWidth + ' > ' + w.clientWidth);
  for (const svg of document.querySelectorAll('svg')) {
    const r = svg.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;   /* inside a closed <details> */
    out.svgs++;
    if (r.width < 200 || r.height < 150) out.small++;
    const scale = r.width / svg.viewBox.baseVal.width;
    const boxes = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim() !== '')
      .map(t => ({t: t, b: t.getBoundingClientRect(), rot: t.classList.contains('rot')}));
    for (const x of boxes) {
      const b = x.b;
      if (b.left < r.left - 1 || b.right > r.right + 1 || b.top < r.top - 1 || b.bottom > r.bottom + 1)
        out.outside.push(x.t.textContent);
      out.minFont = Math.min(out.minFont, parseFloat(getComputedStyle(x.t).fontSize) * scale);
    }
    const flat = boxes.filter(x => !x.rot);
    for (let i = 0; i < flat.length; i++)
      for (let j = i + 1; j < flat.length; j++) {
        const a = flat[i].b, c = flat[j].b;
        const w = Math.min(a.right, c.right) - Math.max(a.left, c.left);
        const h = Math.min(a.bottom, c.bottom) - Math.max(a.top, c.top);
        if (w > 1 && h > 1) out.overlaps.push(flat[i].t.textContent + ' | ' + flat[j].t.textContent);
      }
  }
  return out;
})()"""

exe = html_browser.find_chromium()
if not check(exe is not None, html_browser.INSTALL_HINT):
    finish()

browser = None
try:
    browser = html_browser.Browser(exe, 1280, 900)

    # canaries: the checks see errors and blank pages when there are some
    canary = path("canary.html")
    with open(canary, "w") as f:
        f.write("<!DOCTYPE html><html><body><p>canary</p><script>console.error('canary error')</script>"
                "<script>throw new Error('canary exception')</script><img src='missing.png'/>"
                "<svg xmlns='http://www.w3.org/2000/svg' width='300' height='200' viewBox='0 0 300 200'>"
                "<text x='10' y='20'>first label</text><text x='14' y='24'>second label</text>"
                "<text x='280' y='100'>leaves the chart</text></svg></body></html>")
    res = browser.load("file://" + canary)
    joined = " ".join(res["errors"])
    check("canary error" in joined and "canary exception" in joined and "missing.png" in joined,
          f"the browser checks see console errors, exceptions and failed loads: {res['errors']}")
    check(len(res["requests"]) == 2, f"the browser checks see every request: {res['requests']}")
    lay = browser.evaluate(LAYOUT)
    check(len(lay["overlaps"]) == 1 and lay["outside"] == ["leaves the chart"],
          f"the layout checks see overlapping labels and labels outside a chart: {lay}")
    blank = path("blank.html")
    with open(blank, "w") as f:
        f.write("<!DOCTYPE html><html><body></body></html>")
    browser.load("file://" + blank)
    ink, colours = html_browser.ink_stats(browser.screenshot(path("blank.png")))
    check(ink < 0.001 and colours <= 2, f"a blank page measures as blank ({ink:.4f} ink, {colours} colours)")

    shots = [(t, os.path.join(TMP, f"{t}.html"), 3) for t in ("budget", "exact", "add", "fail", "wide")
             if pages.get(t)]
    if pages.get("reproduce"):
        shots.append(("reproduce", os.path.join(TMP, "reproduce.html"), 8))
    if pages.get("network"):
        shots.append(("network", os.path.join(TMP, "network.html"), 2))
    if unit_page:
        shots.append(("renderer", unit_page, 3))
    if synth_page:
        shots.append(("reproduce-synthetic", synth_page, 5))
    for tag, html, min_svgs in shots:
        url = "file://" + html
        res = browser.load(url)
        check(res["errors"] == [], f"{tag}: browser reported {res['errors']}")
        check(res["requests"] == [url], f"{tag}: requests other than the page itself: {res['requests']}")
        lay = browser.evaluate(LAYOUT)
        check(lay["svgs"] >= min_svgs and lay["small"] == 0, f"{tag}: {lay['svgs']} charts rendered, {lay['small']} tiny")
        check(lay["overlaps"] == [], f"{tag}: overlapping labels: {lay['overlaps'][:8]}")
        check(lay["outside"] == [], f"{tag}: labels outside their chart: {lay['outside'][:8]}")
        check(lay["minFont"] >= 10, f"{tag}: smallest chart text {lay['minFont']:.1f} px")
        check(lay["width"] <= 1280, f"{tag}: page {lay['width']} px wide scrolls sideways at 1280 px")
        check(lay["cut"] == [], f"{tag}: tables wider than their box at 1280 px: {lay['cut']}")
        name = "report" if tag == "budget" else tag
        shot = os.path.join(TMP, f"{name}.png")
        ink, colours = html_browser.ink_stats(browser.screenshot(shot))
        browser.screenshot(os.path.join(TMP, f"{name}-full.png"), full_page=True)
        print(f"{tag}: screenshot {shot} ({100 * ink:.1f}% ink, {colours} colours)")
        check(ink > 0.03 and colours >= 32, f"{tag}: screenshot looks blank ({ink:.4f} ink, {colours} colours)")
except html_browser.BrowserError as e:
    check(False, f"chromium: {e}")
finally:
    if browser:
        browser.close()
finish()
