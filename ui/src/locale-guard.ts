// Some desktops start the app with a POSIX locale (`LANG=C`), and WebKitGTK
// then reports `navigator.language` as "C", which is no language tag:
// `new Intl.NumberFormat("C")` throws, and uPlot makes one when its module
// loads. Imported before uPlot, this reports "en-US" in that case.
function validTag(tag: string): boolean {
  try {
    new Intl.NumberFormat(tag);
    return true;
  } catch {
    return false;
  }
}

if (typeof navigator !== "undefined" && !validTag(navigator.language)) {
  Object.defineProperty(navigator, "language", { value: "en-US", configurable: true });
}

export {};
