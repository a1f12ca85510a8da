"""The newcomer's flow in a real browser against the real server, with screenshots."""

import statistics
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(240)

IMAGE_READY = """([selector, previous]) => {
  const img = document.querySelector(selector);
  return img && img.getAttribute('src') !== previous && img.complete && img.naturalWidth > 0;
}"""


# Clicks "next" in the page and times it as the user sees it: until both new images are shown.
STEP = """async () => {
  const images = [0, 1].map((i) => document.querySelector(`img[data-ts='sample-${i}']`));
  const before = images.map((img) => img.getAttribute('src'));
  const next = [...document.querySelectorAll('button')].find(
    (b) => b.innerText.includes('chevron_right'));
  const started = performance.now();
  next.click();
  const shown = () => images.every((img, i) =>
    img.getAttribute('src') !== before[i] && img.complete && img.naturalWidth > 0);
  while (!shown()) {
    if (performance.now() - started > 5000) throw new Error('no new sample after 5 s');
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
  return performance.now() - started;
}"""


def image(page, index):
    return page.locator(f"img[data-ts='sample-{index}']")


def src(page, index):
    return page.eval_on_selector(f"img[data-ts='sample-{index}']", "e => e.getAttribute('src')")


def wait_image_changed(page, index, previous):
    page.wait_for_function(IMAGE_READY, arg=[f"img[data-ts='sample-{index}']", previous])


def test_newcomer_flow(server, page, shot):
    page.goto(server.url)
    page.get_by_role("button", name="Load").wait_for()
    assert "Digits(train=True)" in page.locator(".cm-content").inner_text()
    shot("opened")

    page.get_by_role("button", name="Load").click()
    page.get_by_text("1438 training samples", exact=True).wait_for()
    page.get_by_text("359 validation samples", exact=True).wait_for()
    page.get_by_text("10 classes: 0, 1, 2").wait_for()
    wait_image_changed(page, 0, None)
    wait_image_changed(page, 1, None)
    shot("loaded")

    first = image(page, 0).screenshot()
    latencies = [page.evaluate(STEP) / 1000 for _ in range(10)]
    assert page.locator(".ts-index input").input_value() == "10"
    assert image(page, 0).screenshot() != first, "the image did not change with the index"
    median = statistics.median(latencies)
    print(f"sample step: median {median * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    assert median < 0.150, f"a sample step took {median * 1000:.0f} ms (median)"
    shot("browsed")

    previous = src(page, 0)
    page.get_by_role("button", name="Validation").click()
    wait_image_changed(page, 0, previous)
    page.get_by_text("of 359").wait_for()

    page.get_by_role("button", name="Training samples").click()
    count = page.locator(".ts-training-samples input")
    count.fill("1000")
    count.press("Enter")
    page.get_by_text("1000 training samples", exact=True).wait_for()
    shot("split-changed")

    page.get_by_role("button", name="Analyze").click()
    report = page.locator("img[data-ts='analysis-report']")
    report.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector(\"img[data-ts='analysis-report']\");"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    weights = page.locator(".ts-weights tbody tr")
    assert weights.count() == 10
    page.get_by_text("done: analyzed 1359 samples", exact=True).wait_for()
    shot("analyzed")

    page.reload()
    page.get_by_text("1000 training samples", exact=True).wait_for()
    page.get_by_text("of 359").wait_for()  # still browsing the validation split
    wait_image_changed(page, 0, None)
    assert page.locator(".ts-weights tbody tr").count() == 10
    shot("reloaded")


def test_syntax_error_shows_its_line(server, page, shot):
    page.goto(server.url)
    editor = page.locator(".cm-content").first
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type("x = 1\ntrain = x +\n")
    page.get_by_role("button", name="Load").click()
    error = page.locator(".ts-load-error")
    error.get_by_text("SyntaxError").wait_for()
    assert 'File "dataset code", line 2' in error.inner_text()
    highlighted = page.locator(".cm-line.ts-error-line")
    highlighted.wait_for()
    assert "train = x +" in highlighted.inner_text()
    shot("syntax-error")


def test_requests_without_the_token_are_refused(server):
    for path in ("", "api/dataset/analysis.png", "?token=wrong"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.base + path, timeout=10)
        assert refused.value.code == 403
    with urllib.request.urlopen(server.url, timeout=10) as response:
        assert response.status == 200
