// Small DOM helpers shared by the screens.

/** A new element with attributes and optional text. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A labelled input inside a `<label>`. */
export function field(
  label: string,
  attributes: Record<string, string>,
): { wrapper: HTMLLabelElement; input: HTMLInputElement } {
  const wrapper = element("label", { class: "field" });
  const input = element("input", attributes);
  wrapper.append(element("span", {}, label), input);
  return { wrapper, input };
}
