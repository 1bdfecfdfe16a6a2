// Suggestions while a rule is written: names complete as you type (the functions of
// GET /api/functions and the price series), and the signature of the call the cursor
// is in shows under the rule. Keyboard: arrows choose, Enter or Tab takes, Escape closes.

const PRICES = ["open", "high", "low", "close", "volume"];
const SHOWN = 8;
const NAME_BEFORE = /[A-Za-z_][A-Za-z0-9_]*$/;

let reference;

// The language's reference, asked of the API once per page load.
export function loadReference(api) {
  reference ??= api("/api/functions").catch((error) => { reference = undefined; throw error; });
  return reference;
}

// The name of the innermost call still open at `cursor`, or null.
export function callAt(text, cursor) {
  let depth = 0;
  for (let i = cursor - 1; i >= 0; i -= 1) {
    if (text[i] === ")") depth += 1;
    else if (text[i] === "(") {
      if (depth === 0) return NAME_BEFORE.exec(text.slice(0, i))?.[0] ?? null;
      depth -= 1;
    }
  }
  return null;
}

export function attachSuggestions(textarea, functions, el) {
  const byName = new Map(functions.map((f) => [f.name, f]));
  const names = [...PRICES, ...byName.keys()].sort();
  const id = `${textarea.name}-suggestions`;
  const list = el("ul", { id, class: "suggestions", role: "listbox", hidden: true, "aria-label": "names" });
  const hint = el("div", { class: "signature", "aria-live": "polite" });
  textarea.setAttribute("role", "combobox");
  textarea.setAttribute("aria-autocomplete", "list");
  textarea.setAttribute("aria-controls", id);
  textarea.setAttribute("aria-expanded", "false");
  let options = [];
  let active = 0;

  const wordBefore = () => NAME_BEFORE.exec(textarea.value.slice(0, textarea.selectionStart))?.[0] ?? "";
  const close = () => {
    list.hidden = true;
    options = [];
    textarea.setAttribute("aria-expanded", "false");
    textarea.removeAttribute("aria-activedescendant");
  };
  const highlight = (index) => {
    active = index;
    list.querySelectorAll("li").forEach((item, i) => item.setAttribute("aria-selected", String(i === index)));
    textarea.setAttribute("aria-activedescendant", `${id}-${index}`);
  };
  const showSignature = () => {
    const called = byName.get(callAt(textarea.value, textarea.selectionStart));
    hint.textContent = called ? `${called.signature}: ${called.doc}` : "";
  };
  const pick = (name) => {
    const end = textarea.selectionStart;
    textarea.setRangeText(byName.has(name) ? `${name}(` : name, end - wordBefore().length, end, "end");
    close();
    textarea.focus();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  };
  const suggest = () => {
    const prefix = wordBefore().toLowerCase();
    options = prefix ? names.filter((name) => name.startsWith(prefix)).slice(0, SHOWN) : [];
    if (!options.length || (options.length === 1 && options[0] === prefix && !byName.has(prefix))) {
      close();
      return;
    }
    list.replaceChildren(...options.map((name, i) => el("li", {
      id: `${id}-${i}`, role: "option", "data-name": name,
      onmousedown: (event) => { event.preventDefault(); pick(name); },
    }, el("code", { text: name }), el("span", {
      class: "muted", text: byName.has(name) ? byName.get(name).signature.slice(name.length) : " price",
    }))));
    list.hidden = false;
    textarea.setAttribute("aria-expanded", "true");
    highlight(0);
  };

  textarea.addEventListener("input", () => { suggest(); showSignature(); });
  textarea.addEventListener("click", () => { close(); showSignature(); });
  textarea.addEventListener("keyup", (event) => { if (event.key.startsWith("Arrow") && list.hidden) showSignature(); });
  textarea.addEventListener("blur", close);
  textarea.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      highlight((active + (event.key === "ArrowDown" ? 1 : options.length - 1)) % options.length);
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      pick(options[active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  textarea.after(list, hint);
}
