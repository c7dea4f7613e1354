// Runs in an isolated world (page scripts cannot patch what it calls) in one frame.
// Returns forms, fields outside forms and iframes, every string and count bounded.
(() => {
  const MAXS = 300, MAXF = 200, MAXFIELDS = 400, MAXFR = 100;
  const cut = (s) => (s == null ? "" : String(s)).replace(/\s+/g, " ").trim().slice(0, MAXS);
  const visible = (el) => {
    try {
      const st = getComputedStyle(el);
      if (st.display === "none" || st.visibility === "hidden" || Number(st.opacity) === 0) return false;
      const r = el.getBoundingClientRect();
      return r.width > 1 && r.height > 1;
    } catch (e) { return false; }
  };
  const labelOf = (el) => {
    try {
      if (el.labels && el.labels.length) return cut(el.labels[0].textContent);
      const aria = el.getAttribute("aria-label");
      if (aria) return cut(aria);
      const by = el.getAttribute("aria-labelledby");
      if (by) { const l = document.getElementById(by); if (l) return cut(l.textContent); }
      const wrap = el.closest("label");
      if (wrap) return cut(wrap.textContent);
      const prev = el.previousElementSibling;
      if (prev && /^(LABEL|SPAN|DIV|P|DT|TH)$/.test(prev.tagName)) return cut(prev.textContent);
    } catch (e) {}
    return "";
  };
  const field = (el) => ({
    tag: el.tagName.toLowerCase(),
    type: cut(el.tagName === "INPUT" ? (el.getAttribute("type") || "text") : el.tagName.toLowerCase()).toLowerCase(),
    name: cut(el.getAttribute("name")),
    id: cut(el.id),
    autocomplete: cut(el.getAttribute("autocomplete")),
    placeholder: cut(el.getAttribute("placeholder")),
    label: labelOf(el),
    visible: visible(el),
  });
  const abs = (u) => { try { return new URL(u, document.baseURI).href; } catch (e) { return cut(u); } };
  const forms = [];
  const all = Array.from(document.forms).slice(0, MAXF);
  let nfields = 0;
  for (const f of all) {
    const els = Array.from(f.elements).filter((e) => /^(INPUT|SELECT|TEXTAREA)$/.test(e.tagName));
    const fields = els.slice(0, Math.max(0, MAXFIELDS - nfields)).map(field);
    nfields += fields.length;
    forms.push({
      action: abs(f.getAttribute("action") || document.URL),
      method: cut(f.getAttribute("method") || "get").toUpperCase(),
      id: cut(f.id), name: cut(f.getAttribute("name")),
      visible: visible(f), fields,
    });
  }
  const loose = Array.from(document.querySelectorAll("input,select,textarea"))
    .filter((e) => !e.form).slice(0, Math.max(0, MAXFIELDS - nfields)).map(field);
  const frames = Array.from(document.querySelectorAll("iframe,frame")).slice(0, MAXFR).map((f) => ({
    src: f.getAttribute("src") ? abs(f.getAttribute("src")) : "about:blank",
    name: cut(f.getAttribute("name") || f.id), visible: visible(f),
  }));
  // Overlays: what the shopper would click at the centre of each visible field and frame in view.
  // Only another frame, another form's field, or an element of another form counts: a floating
  // label or an icon inside the same form is normal.
  const describe = (el) => {
    const tag = el.tagName.toLowerCase();
    if (/^(iframe|frame|embed|object)$/.test(tag)) {
      return tag + " " + cut(abs(el.getAttribute("src") || el.getAttribute("data") || "about:blank"));
    }
    const form = el.closest("form");
    return tag + (el.id ? "#" + cut(el.id) : "") + (form ? " in form " + cut(abs(form.getAttribute("action") || document.URL)) : "");
  };
  const coveredBy = (el) => {
    try {
      const r = el.getBoundingClientRect();
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return "";
      const hit = document.elementFromPoint(x, y);
      if (!hit || hit === el || el.contains(hit) || hit.contains(el)) return "";
      const ownForm = el.form || el.closest("form");
      const hitForm = hit.closest("form");
      if (/^(IFRAME|FRAME|EMBED|OBJECT)$/.test(hit.tagName) || /^(INPUT|SELECT|TEXTAREA)$/.test(hit.tagName) ||
          (hitForm && hitForm !== ownForm)) {
        return describe(hit);
      }
    } catch (e) {}
    return "";
  };
  const overlays = [];
  const targets = Array.from(document.querySelectorAll("input,select,textarea,iframe")).slice(0, MAXFIELDS);
  for (const el of targets) {
    if (overlays.length >= 20) break;
    if (el.type === "hidden" || !visible(el)) continue;
    const cover = coveredBy(el);
    if (!cover) continue;
    overlays.push(el.tagName === "IFRAME"
      ? { kind: "frame", frame: cut(abs(el.getAttribute("src") || "about:blank")), cover }
      : { kind: "field", field: field(el), cover });
  }
  return { url: document.URL, forms, loose, frames, overlays };
})()
