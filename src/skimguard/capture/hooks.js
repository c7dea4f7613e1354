// skimguard runtime attribution: injected into every frame before any page script (main world).
// Reports card-field reads, listeners on card fields and network sinks, each with the URL of the
// script responsible (first stack frame that is not ours), and devtools/automation probes
// (navigator.webdriver, window size checks, looking for wrapped natives), through a CDP binding whose name is
// substituted per scan and removed from window at once. Every hook is wrapped in try/catch and
// always calls the original; wrappers are Proxies of the originals (name, length, prototype kept)
// and Function.prototype.toString answers with the original's source.
(function () {
  "use strict";
  var NAME = "__SKIMGUARD_BINDING__";
  var report = window[NAME];
  try { delete window[NAME]; } catch (e) { /* ignore */ }
  if (typeof report !== "function") return;

  var R = Reflect, apply = R.apply, construct = R.construct;
  var gOPD = Object.getOwnPropertyDescriptor, defProp = Object.defineProperty, getProto = Object.getPrototypeOf;
  var ProxyCtor = Proxy, WeakMapCtor = WeakMap, MapCtor = Map, ErrorCtor = Error, URLCtor = URL;
  var stringify = JSON.stringify, StringCtor = String;
  var reExec = RegExp.prototype.exec, strSplit = String.prototype.split, strSlice = String.prototype.slice;
  var strIndexOf = String.prototype.indexOf, strLower = String.prototype.toLowerCase;
  var getAttr = Element.prototype.getAttribute, qsa = Element.prototype.querySelectorAll;
  var wmGet = WeakMapCtor.prototype.get, wmSet = WeakMapCtor.prototype.set;
  var mapGet = MapCtor.prototype.get, mapSet = MapCtor.prototype.set, mapHas = MapCtor.prototype.has;
  var InputEl = window.HTMLInputElement, SelectEl = window.HTMLSelectElement, AreaEl = window.HTMLTextAreaElement;
  var FormEl = window.HTMLFormElement, ScriptEl = window.HTMLScriptElement, FrameEl = window.HTMLIFrameElement;
  var ImageEl = window.HTMLImageElement;

  var MAX_EVENTS = 2000, MAX_DATA = 65536, MAX_STR = 4096;
  var sent = 0, reads = 0;
  var seen = new MapCtor();
  var masks = new WeakMapCtor();  // wrapper -> original, for toString
  var xhrUrls = new WeakMapCtor();
  var fieldCache = new MapCtor();
  var CARD_RE = /card|cc[-_]?(num|no|exp|cvc|cvv|csc)|cvv|cvc|security.?code|expir/i;
  var STACK_RE = /((?:blob:)?[a-zA-Z][a-zA-Z0-9+.\-]*:\/\/[^\s()]+?|skimguard:[^\s()]+?)(?::\d+){1,2}(?=\)|\s|$)/g;
  var LISTEN_RE = /^(key|input|change|blur|focusout)/i;

  function cut(s, n) { s = StringCtor(s == null ? "" : s); return s.length > n ? apply(strSlice, s, [0, n]) : s; }

  function culprit() {
    var stack = "", limit, prep;
    try {
      limit = ErrorCtor.stackTraceLimit; prep = ErrorCtor.prepareStackTrace;
      ErrorCtor.stackTraceLimit = 40; ErrorCtor.prepareStackTrace = undefined;
      stack = StringCtor(new ErrorCtor().stack || "");
    } catch (e) { /* ignore */ } finally {
      try { ErrorCtor.stackTraceLimit = limit; ErrorCtor.prepareStackTrace = prep; } catch (e) { /* ignore */ }
    }
    var lines = apply(strSplit, stack, ["\n"]);
    for (var i = 1; i < lines.length; i++) {
      STACK_RE.lastIndex = 0;
      var m;
      while ((m = apply(reExec, STACK_RE, [lines[i]]))) {
        if (apply(strIndexOf, m[1], ["skimguard:"]) !== 0) return cut(m[1], MAX_STR);
      }
    }
    return "";
  }

  function emit(kind, detail, data) {
    if (sent >= MAX_EVENTS) return;
    var script = kind === "message" ? "" : culprit();
    // A new card-field read starts a new generation: a sink repeated after it is reported again.
    var key = kind + "|" + script + "|" + stringify(detail) + (kind === "field-read" ? "" : "|" + reads);
    if (data === undefined) {
      if (apply(mapHas, seen, [key])) return;  // throttle: identical events once per read generation
      apply(mapSet, seen, [key, 1]);
    }
    if (kind === "field-read") reads++;
    sent++;
    var msg = {k: kind, s: script, d: detail};
    if (data !== undefined) msg.data = data;
    try { report(stringify(msg)); } catch (e) { /* ignore */ }
  }

  function absolute(u) {
    try { return cut(new URLCtor(StringCtor(u), document.baseURI).href, MAX_STR); } catch (e) { return cut(u, MAX_STR); }
  }

  function isField(el) {
    return !!el && ((InputEl && el instanceof InputEl) || (SelectEl && el instanceof SelectEl) ||
                    (AreaEl && el instanceof AreaEl));
  }

  // The card field an element is (its attributes), or null.
  function cardField(el) {
    if (!isField(el)) return null;
    var ac = apply(getAttr, el, ["autocomplete"]) || "", name = apply(getAttr, el, ["name"]) || "";
    var id = apply(getAttr, el, ["id"]) || "";
    var key = ac + "\u0000" + name + "\u0000" + id;
    var hit = apply(mapGet, fieldCache, [key]);
    if (hit === undefined) {
      hit = apply(strIndexOf, apply(strLower, ac, []), ["cc-"]) === 0 || CARD_RE.test(name) || CARD_RE.test(id);
      if (fieldCache.size < 500) apply(mapSet, fieldCache, [key, hit]);
    }
    if (!hit) return null;
    return {autocomplete: cut(ac, 100), name: cut(name, 100), id: cut(id, 100),
            type: cut(apply(getAttr, el, ["type"]) || "", 40)};
  }

  function sink(kind, url) { emit("sink", {kind: kind, url: absolute(url)}); }

  function mask(wrapper, original) { apply(wmSet, masks, [wrapper, original]); return wrapper; }

  function owner(obj, prop) {
    for (var o = obj; o; o = getProto(o)) { if (gOPD(o, prop)) return o; }
    return null;
  }

  function hookFn(obj, prop, before, asConstructor) {
    try {
      var o = owner(obj, prop); if (!o) return;
      var d = gOPD(o, prop); if (!d || typeof d.value !== "function" || !d.configurable && !d.writable) return;
      var orig = d.value, handler = {};
      handler.apply = function (t, self, args) {
        try { before(self, args); } catch (e) { /* ignore */ }
        return apply(t, self, args);
      };
      if (asConstructor) {
        handler.construct = function (t, args, nt) {
          try { before(null, args); } catch (e) { /* ignore */ }
          return construct(t, args, nt);
        };
      }
      var wrapper = d.value = mask(new ProxyCtor(orig, handler), orig);
      defProp(o, prop, d);
      if (asConstructor && orig.prototype) {  // Ctor.prototype.constructor === Ctor, as before
        var cd = gOPD(orig.prototype, "constructor");
        if (cd && cd.value === orig && cd.configurable) { cd.value = wrapper; defProp(orig.prototype, "constructor", cd); }
      }
    } catch (e) { /* ignore */ }
  }

  function hookAccessor(proto, prop, onGet, onSet) {
    try {
      var d = proto && gOPD(proto, prop); if (!d || !d.configurable) return;
      if (onGet && d.get) {
        d.get = mask(new ProxyCtor(d.get, {apply: function (t, self, args) {
          var v = apply(t, self, args);
          try { onGet(self, v); } catch (e) { /* ignore */ }
          return v;
        }}), d.get);
      }
      if (onSet && d.set) {
        d.set = mask(new ProxyCtor(d.set, {apply: function (t, self, args) {
          try { onSet(self, args[0]); } catch (e) { /* ignore */ }
          return apply(t, self, args);
        }}), d.set);
      }
      defProp(proto, prop, d);
    } catch (e) { /* ignore */ }
  }

  // ---- toString: wrapped functions answer with the original's source (and asking is a probe)
  try {
    var tsd = gOPD(Function.prototype, "toString"), tsOrig = tsd.value;
    tsd.value = mask(new ProxyCtor(tsOrig, {apply: function (t, self, args) {
      var real = null;
      try { real = apply(wmGet, masks, [self]); } catch (e) { /* ignore */ }
      if (real && real !== tsOrig) probe("native-check");
      return apply(t, real || self, args);
    }}), tsOrig);
    defProp(Function.prototype, "toString", tsd);
  } catch (e) { /* ignore */ }

  // ---- devtools and automation probes: skimmers stay quiet for analysts and crawlers
  function probe(what) { emit("probe", {what: what}); }
  if (window.Navigator) {
    hookAccessor(Navigator.prototype, "webdriver", function () { probe("navigator.webdriver"); }, null);
  }
  hookAccessor(window, "outerWidth", function () { probe("window-size"); }, null);
  hookAccessor(window, "outerHeight", function () { probe("window-size"); }, null);

  // ---- field reads
  function onRead(el) {
    var f = cardField(el);
    if (f) { f.via = "value"; emit("field-read", f); }
  }
  if (InputEl) hookAccessor(InputEl.prototype, "value", onRead, null);
  if (SelectEl) hookAccessor(SelectEl.prototype, "value", onRead, null);
  if (AreaEl) hookAccessor(AreaEl.prototype, "value", onRead, null);
  if (window.FormData) {
    hookFn(window, "FormData", function (self, args) {
      var form = args[0];
      if (!(FormEl && form instanceof FormEl)) return;
      var els = apply(qsa, form, ["input,select,textarea"]);
      for (var i = 0; i < els.length && i < 200; i++) {
        var f = cardField(els[i]);
        if (f) { f.via = "FormData"; emit("field-read", f); }
      }
    }, true);
  }

  // ---- listeners on card fields
  hookFn(EventTarget.prototype, "addEventListener", function (self, args) {
    if (!LISTEN_RE.test(StringCtor(args[0]))) return;
    var f = cardField(self);
    if (f) { f.event = cut(args[0], 40); emit("listener", f); }
  });

  // ---- network sinks
  hookFn(window, "fetch", function (self, args) {
    var input = args[0];
    sink("fetch", input && typeof input === "object" && "url" in input ? input.url : input);
  });
  if (window.XMLHttpRequest) {
    hookFn(XMLHttpRequest.prototype, "open", function (self, args) {
      apply(wmSet, xhrUrls, [self, absolute(args[1])]);
    });
    hookFn(XMLHttpRequest.prototype, "send", function (self) {
      var u = apply(wmGet, xhrUrls, [self]);
      if (u) sink("xhr", u);
    });
  }
  if (window.navigator && navigator.sendBeacon) {
    hookFn(Navigator.prototype, "sendBeacon", function (self, args) { sink("beacon", args[0]); });
  }
  if (window.WebSocket) {
    hookFn(window, "WebSocket", function (self, args) { sink("websocket", args[0]); }, true);
    hookFn(WebSocket.prototype, "send", function (self) {
      var u = ""; try { u = self.url; } catch (e) { /* ignore */ }
      sink("websocket-send", u);
    });
  }
  if (ImageEl) hookAccessor(ImageEl.prototype, "src", null, function (self, v) { sink("image", v); });
  if (ScriptEl) hookAccessor(ScriptEl.prototype, "src", null, function (self, v) { sink("script", v); });
  if (FrameEl) hookAccessor(FrameEl.prototype, "src", null, function (self, v) { sink("iframe", v); });
  // A handle on a frame's window is how a script posts into it: it names the sender of a
  // cross-origin postMessage, which the receiving frame cannot see.
  if (FrameEl) {
    hookAccessor(FrameEl.prototype, "contentWindow", function (self) {
      var u = ""; try { u = apply(getAttr, self, ["src"]) || ""; } catch (e) { /* ignore */ }
      if (u) sink("frame-handle", u);
    }, null);
  }
  if (FormEl) {
    hookAccessor(FormEl.prototype, "action", null, function (self, v) { sink("form-action", v); });
    var onSubmit = function (self) {
      var a = ""; try { a = apply(getAttr, self, ["action"]) || document.baseURI; } catch (e) { /* ignore */ }
      sink("form-submit", a);
    };
    hookFn(FormEl.prototype, "submit", onSubmit);
    hookFn(FormEl.prototype, "requestSubmit", onSubmit);
  }
  hookFn(Element.prototype, "setAttribute", function (self, args) {
    var n = apply(strLower, StringCtor(args[0]), []);
    if (n === "src") {
      if (ImageEl && self instanceof ImageEl) sink("image", args[1]);
      else if (ScriptEl && self instanceof ScriptEl) sink("script", args[1]);
      else if (FrameEl && self instanceof FrameEl) sink("iframe", args[1]);
    } else if (n === "action" && FormEl && self instanceof FormEl) {
      sink("form-action", args[1]);
    }
  });
  function onInsert(self, args) {
    var node = args[0], u = "";
    if (ScriptEl && node instanceof ScriptEl) {
      u = apply(getAttr, node, ["src"]); if (u) sink("insert-script", u);
    } else if (FrameEl && node instanceof FrameEl) {
      u = apply(getAttr, node, ["src"]); if (u) sink("insert-iframe", u);
    }
  }
  hookFn(Node.prototype, "appendChild", onInsert);
  hookFn(Node.prototype, "insertBefore", onInsert);
  hookFn(window, "open", function (self, args) { if (args[0]) sink("window-open", args[0]); });
  // location.assign/replace/href are [LegacyUnforgeable]: these attempts fail quietly in Chromium,
  // and script navigations are taken from the CDP request initiator instead.
  try {
    var loc = window.location;
    hookFn(loc, "assign", function (self, args) { sink("navigation", args[0]); });
    hookFn(loc, "replace", function (self, args) { sink("navigation", args[0]); });
  } catch (e) { /* ignore */ }

  // ---- postMessage: the sender side where reachable, the data where it lands
  hookFn(window, "postMessage", function (self, args) {
    if (self === window) return;
    var origin = ""; try { origin = StringCtor(args[1] || ""); } catch (e) { /* ignore */ }
    emit("sink", {kind: "postMessage", url: origin});
  });
  try {
    var addL = EventTarget.prototype.addEventListener;
    apply(addL, window, ["message", function (ev) {
      try {
        if (ev.source === window) return;
        var data = ev.data, text;
        if (typeof data === "string") text = data;
        else { try { text = stringify(data); } catch (e) { text = ""; } }
        text = cut(text, MAX_DATA);
        if (!text) return;
        emit("message", {from: cut(ev.origin, 300), url: cut(location.href, MAX_STR)}, text);
      } catch (e) { /* ignore */ }
    }, true]);
  } catch (e) { /* ignore */ }
})();
//# sourceURL=skimguard:hooks.js
