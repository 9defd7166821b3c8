// A charrnn model in one offline page: its step in JavaScript, written from the same equations
// as the models' NumPy steps (models/recurrent.py, models/unrolled.py) on the weights in
// PyTorch's layout (exporting/layout.py), and the page around it: a keyboard that shows the
// next-character probabilities as you type, a continuation at a chosen temperature, and the
// Inside view (inside.js) computed here for any text. No server, no request.
"use strict";

const Offline = (() => {
  // -- the weights ------------------------------------------------------------------------
  function tensor({shape, data}) {  // float32, little-endian, base64
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    return {shape, values: new Float32Array(bytes.buffer)};
  }

  // y = W x + b for W (rows x cols, row-major), accumulated in doubles.
  function affine(w, x, b) {
    const [rows, cols] = w.shape, W = w.values, y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let sum = b ? b.values[r] : 0;
      const offset = r * cols;
      for (let c = 0; c < cols; c++) sum += W[offset + c] * x[c];
      y[r] = sum;
    }
    return y;
  }
  const sigmoid = (x) => 1 / (1 + Math.exp(-x));
  const row = (w, i) => w.values.subarray(i * w.shape[1], (i + 1) * w.shape[1]);

  // -- the model: zero() is a fresh state, step(state, id) -> {logits, state, seen} -----------
  function model(data) {
    const w = Object.fromEntries(Object.entries(data.tensors).map(([k, t]) => [k, tensor(t)]));
    const {model: mode, layers, hidden} = data.config;
    if (mode === "unrolled") return unrolled(w);
    return {
      mode,
      zero: () => ({h: Array.from({length: layers}, () => new Float64Array(hidden)),
                    c: Array.from({length: layers}, () => new Float64Array(hidden))}),
      step(state, id) {
        let x = row(w["embedding.weight"], id);
        const h = [], c = [], seen = [];
        for (let k = 0; k < layers; k++) {
          const gi = affine(w[`rnn.weight_ih_l${k}`], x, w[`rnn.bias_ih_l${k}`]);
          const gh = affine(w[`rnn.weight_hh_l${k}`], state.h[k], w[`rnn.bias_hh_l${k}`]);
          const n = hidden, hk = new Float64Array(n), ck = new Float64Array(n);
          if (mode === "lstm") {  // gates i, f, g, o
            const input = new Float64Array(n), forget = new Float64Array(n),
              output = new Float64Array(n);
            for (let j = 0; j < n; j++) {
              input[j] = sigmoid(gi[j] + gh[j]);
              forget[j] = sigmoid(gi[n + j] + gh[n + j]);
              const g = Math.tanh(gi[2 * n + j] + gh[2 * n + j]);
              output[j] = sigmoid(gi[3 * n + j] + gh[3 * n + j]);
              ck[j] = forget[j] * state.c[k][j] + input[j] * g;
              hk[j] = output[j] * Math.tanh(ck[j]);
            }
            seen.push({c: ck, h: hk, input, forget, output});
          } else if (mode === "gru") {  // gates r, z, n; the reset gate on (W_hn h + b_hn)
            const reset = new Float64Array(n), update = new Float64Array(n);
            for (let j = 0; j < n; j++) {
              reset[j] = sigmoid(gi[j] + gh[j]);
              update[j] = sigmoid(gi[n + j] + gh[n + j]);
              const candidate = Math.tanh(gi[2 * n + j] + reset[j] * gh[2 * n + j]);
              hk[j] = (1 - update[j]) * candidate + update[j] * state.h[k][j];
            }
            seen.push({h: hk, reset, update});
          } else {
            for (let j = 0; j < n; j++) {
              const pre = gi[j] + gh[j];
              hk[j] = mode === "rnn_relu" ? Math.max(pre, 0) : Math.tanh(pre);
            }
            seen.push({h: hk});
          }
          h.push(hk);
          c.push(ck);
          x = hk;
        }
        return {logits: affine(w["decoder.weight"], x, w["decoder.bias"]), state: {h, c}, seen};
      },
    };
  }

  // The three-character model: its state is the two previous ids (0 before the text).
  function unrolled(w) {
    const dense = (name, x, relu) => {
      const y = affine(w[`${name}.weight`], x, w[`${name}.bias`]);
      return relu ? y.map((v) => Math.max(v, 0)) : y;
    };
    const input = (id) => dense("input", row(w["embedding.weight"], id), true);
    return {
      mode: "unrolled",
      zero: () => ({previous: [0, 0]}),
      step(state, id) {
        const [first, second] = state.previous.map(input);
        let hidden = dense("hidden", first, true).map((v, j) => v + second[j]);
        const third = input(id);
        hidden = dense("hidden", hidden, true).map((v, j) => v + third[j]);
        return {logits: dense("output", hidden, false), state: {previous: [state.previous[1], id]},
                seen: [{hidden}]};
      },
    };
  }

  // -- what the page and the tests ask of it --------------------------------------------------
  function softmax(logits, temperature = 1) {
    let top = -Infinity;
    for (const v of logits) top = Math.max(top, v / temperature);
    const e = Array.from(logits, (v) => Math.exp(v / temperature - top));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  }

  // A seeded generator (mulberry32): the same seed gives the same text.
  function random(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function create(data) {
    const net = model(data), vocab = data.vocab;
    const ids = new Map(vocab.map((c, i) => [c, i]));
    const encode = (text) => {
      const unknown = [...new Set([...text].filter((c) => !ids.has(c)))];
      if (unknown.length) {
        throw new Error(`not in the model's vocabulary: ${unknown.map(JSON.stringify).join(" ")}`);
      }
      return [...text].map((c) => ids.get(c));
    };
    // The state after a text, remembered for the last text read (typing adds to it).
    let cached = {text: "", state: net.zero(), logits: null};
    function read(text) {
      if (!text) text = "\n";
      let from = cached;
      if (!(cached.logits && text.startsWith(cached.text))) from = {text: "", state: net.zero()};
      let {state, logits} = from;
      for (const id of encode(text.slice(from.text.length))) ({state, logits} = net.step(state, id));
      cached = {text, state, logits};
      return {state, logits};
    }
    function next(text, k = 6) {
      const p = softmax(read(text).logits);
      return p.map((v, i) => [vocab[i], v]).sort((a, b) => b[1] - a[1]).slice(0, k);
    }
    function* continuation(text, length, temperature, seed) {
      let {state, logits} = read(text);
      const draw = random(seed);
      for (let i = 0; i < length; i++) {
        let id;
        if (temperature === 0) {
          id = logits.indexOf(Math.max(...logits));
        } else {
          const p = softmax(logits, temperature);
          let u = draw(), acc = 0;
          id = p.length - 1;
          for (let j = 0; j < p.length; j++) { acc += p[j]; if (u < acc) { id = j; break; } }
        }
        yield vocab[id];
        ({state, logits} = net.step(state, id));
      }
    }
    const greedy = (text, length) => [...continuation(text, length, 0, 0)].join("");

    // The Inside view's data for a text, read from a zero state as `charrnn inspect` reads it.
    function inspect(text) {
      const chars = [...text], codes = encode(text);
      let state = net.zero(), logits = null;
      const bits = [], top = [], trace = {};
      const units = [];
      codes.forEach((id, i) => {
        if (logits) {
          const p = softmax(logits);
          bits.push(-Math.log2(p[id]));
          top.push(p.map((v, j) => [vocab[j], v]).sort((a, b) => b[1] - a[1]).slice(0, 5));
        } else {
          bits.push(null);
          top.push(null);
        }
        const stepped = net.step(state, id);
        ({state, logits} = stepped);
        stepped.seen.forEach((layer, k) => {
          for (const [name, values] of Object.entries(layer)) {
            if (!["h", "c", "hidden"].includes(name)) continue;
            const key = `${k + 1}.${name}`;
            if (!trace[key]) {
              trace[key] = [];
              units.push({layer: k + 1, state: name, size: values.length});
            }
            trace[key].push(values);
          }
        });
      });
      const scored = bits.filter((b) => b !== null);
      const figures = {text_chars: chars.length, skipped: 0, skipped_chars: [], units,
                       bpc: scored.reduce((a, b) => a + b, 0) / Math.max(scored.length, 1),
                       properties: [], saturation: [], contexts: {}};
      const source = {
        async unit(key) {
          const [layer, name, unit] = key.split(".");
          const rows = trace[`${layer}.${name}`], index = Number(unit);
          if (!rows || !(index >= 0 && index < rows[0].length)) {
            throw new Error(`unit ${key} is not one of this model's`);
          }
          const values = rows.map((r) => r[index]);
          return {values, contexts: contexts(chars, values)};
        },
      };
      return {figures, view: {text, bits, top}, source};
    }
    return {next, continuation, greedy, inspect, vocab, config: data.config};
  }

  // A unit's ten most positive and most negative positions, 20 characters apart.
  function contexts(chars, values) {
    const order = values.map((v, i) => i).sort((a, b) => values[b] - values[a]);
    const pick = (positions) => {
      const chosen = [];
      for (const i of positions) {
        if (chosen.every((j) => Math.abs(i - j) >= 20)) chosen.push(i);
        if (chosen.length === 10) break;
      }
      return chosen.map((i) => ({text: chars.slice(Math.max(0, i - 30), i + 11).join(""),
                                 at: Math.min(i, 30), value: values[i]}));
    };
    return {positive: pick(order), negative: pick([...order].reverse())};
  }

  // -- the page ---------------------------------------------------------------------------
  function start(data) {
    const lm = create(data);
    window.charrnn = lm;  // for the curious, and for the tests
    const $ = (id) => document.getElementById(id);
    const input = $("text"), suggestions = $("suggestions"), status = $("status");
    const show = (c) => (c === " " ? "␣" : c === "\n" ? "↵" : c);
    function suggest() {
      suggestions.replaceChildren();
      try {
        for (const [c, p] of lm.next(input.value, 6)) {
          const button = document.createElement("button");
          button.className = "suggestion";
          button.dataset.char = c;
          button.dataset.p = p;
          button.append(show(c), Object.assign(document.createElement("small"),
            {textContent: `${(p * 100).toFixed(1)}%`}));
          button.addEventListener("click", () => { input.value += c; suggest(); input.focus(); });
          suggestions.append(button);
        }
        status.textContent = "";
      } catch (error) {
        status.textContent = error.message;
      }
    }
    input.addEventListener("input", suggest);
    input.addEventListener("keydown", (event) => {
      const first = suggestions.querySelector(".suggestion");
      if (event.key === "Tab" && first) { event.preventDefault(); first.click(); }
    });
    $("continue").addEventListener("click", () => {
      let generator;
      try {
        generator = lm.continuation(input.value, Number($("length").value) || 300,
          Math.max(0, Number($("temperature").value)), Number($("seed").value) || 0);
      } catch (error) { status.textContent = error.message; return; }
      const started = performance.now();
      let made = 0;
      const more = () => {
        const until = performance.now() + 30;
        let next;
        while (performance.now() < until && !(next = generator.next()).done) {
          input.value += next.value;
          made++;
        }
        const done = next && next.done;
        if (done) suggest();  // the keyboard, after the new text
        status.textContent = `${made} characters, ` +
          `${Math.round(made / ((performance.now() - started) / 1000))} a second`;
        if (!done) setTimeout(more, 0);
      };
      more();
    });
    $("inspect").addEventListener("click", () => {
      try {
        const {figures, view, source} = lm.inspect($("inside-input").value);
        Inside.render($("inside-view"), {figures, view}, source);
      } catch (error) { $("inside-view").textContent = error.message; }
    });
    for (const tab of document.querySelectorAll("[role=tab]")) {
      tab.addEventListener("click", () => {
        for (const other of document.querySelectorAll("[role=tab]")) {
          other.setAttribute("aria-selected", String(other === tab));
          $(other.getAttribute("aria-controls")).hidden = other !== tab;
        }
      });
    }
    suggest();
  }

  return {create, start};
})();
