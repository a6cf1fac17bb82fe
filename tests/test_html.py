"""dlor verify --html: the page is self-contained, well-formed, says what the JSON
report says, and renders in headless Chromium without errors and not blank.

Pages: the digits sample converted exactly (mul), at --budget 0.5 (a compressed
layer without a per-layer tolerance, two layers kept dense), in the wide add form,
and one that fails its tolerance; plus the renderer's own sample page written by
test_html_report (NaN/Inf/0 on log axes, hostile names).

Browser checks (tests/html_browser.py, through the DevTools pipe): no console
error or warning, no uncaught exception, no browser log error, exactly one
request per page (itself); no text label overlapping another or leaving its
chart, fonts of at least 10 px, no horizontal scrolling at 1366 px; screenshots
that are not blank (share of non-white pixels, number of colours). A canary
page with a deliberate console error, exception and missing image, and a blank
page, show that the checks can fail.

Screenshots for inspection: tests/tmp/html/*.png in the build tree.
"""
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import html_browser  # noqa: E402
from dlor_testlib import SRC, check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("html")
UNIT = os.environ.get("DLOR_HTML_UNIT")
SVGNS = "{http://www.w3.org/2000/svg}"
digits = os.path.join(SRC, "samples", "digits")
dsrc = os.path.join(digits, "digits.safetensors")
xin, yin = os.path.join(digits, "x_test.npy"), os.path.join(digits, "y_test.npy")


def path(name):
    p = os.path.join(TMP, name)
    if os.path.exists(p):
        os.remove(p)
    return p


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

# stdout, and failures that must not leave or clobber a file
rc, so, se = run("verify", dsrc, exact, "--html", "-", "-q")
check(rc == 0 and "<!DOCTYPE html>" in so and so.rstrip().endswith("PASS"), "--html - writes the page to stdout")
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

# the renderer's sample page
unit_page = None
if check(UNIT is not None, "DLOR_HTML_UNIT names test_html_report"):
    up = path("renderer.html")
    r = subprocess.run([UNIT, up], capture_output=True, text=True)
    check(r.returncode == 0, f"test_html_report {up}: {r.stdout[-500:]} {r.stderr[-2000:]}")
    if os.path.exists(up):
        unit_page = up
        static_checks("renderer", open(up, encoding="utf-8").read())

# ---- in the browser ---------------------------------------------------------------------------------
LAYOUT = r"""(() => {
  const out = {svgs: 0, small: 0, overlaps: [], outside: [], minFont: 100,
               width: document.documentElement.scrollWidth};
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
    browser = html_browser.Browser(exe, 1366, 900)

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

    shots = [(t, os.path.join(TMP, f"{t}.html")) for t in ("budget", "exact", "add", "fail") if pages.get(t)]
    if unit_page:
        shots.append(("renderer", unit_page))
    for tag, html in shots:
        url = "file://" + html
        res = browser.load(url)
        check(res["errors"] == [], f"{tag}: browser reported {res['errors']}")
        check(res["requests"] == [url], f"{tag}: requests other than the page itself: {res['requests']}")
        lay = browser.evaluate(LAYOUT)
        check(lay["svgs"] >= 3 and lay["small"] == 0, f"{tag}: {lay['svgs']} charts rendered, {lay['small']} tiny")
        check(lay["overlaps"] == [], f"{tag}: overlapping labels: {lay['overlaps'][:8]}")
        check(lay["outside"] == [], f"{tag}: labels outside their chart: {lay['outside'][:8]}")
        check(lay["minFont"] >= 10, f"{tag}: smallest chart text {lay['minFont']:.1f} px")
        check(lay["width"] <= 1366, f"{tag}: page {lay['width']} px wide scrolls sideways at 1366 px")
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
