// The template gallery pictures each template as the canvas draws it
// (ui/public/templates/<key>.png, from `make previews`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

test("the gallery shows each template as the canvas draws it", async () => {
  const { page, errors } = await openPage({ signedIn: true });
  const pictures = page.locator(".template-gallery img.template-picture");
  await pictures.first().waitFor();
  assert.equal(await pictures.count(), 4);
  const loaded = await pictures.evaluateAll((images) =>
    Promise.all(
      images.map((image) =>
        image.decode().then(
          () => [image.getAttribute("src"), image.naturalWidth, image.naturalHeight, image.alt],
          () => [image.getAttribute("src"), 0, 0, image.alt],
        ),
      ),
    ),
  );
  for (const [src, width, height, alt] of loaded) {
    assert.deepEqual([width, height], [400, 168], `${src} did not load as the canvas's 400×168 picture`);
    assert.match(alt, /→/, `${src} names the template's nodes for screen readers`);
  }
  // No sketch stands in for a picture.
  assert.equal(await page.locator(".template-gallery svg.template-preview").count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});
