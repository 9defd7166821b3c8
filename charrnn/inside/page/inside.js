// What a model holds, character by character: the views of `charrnn inspect`'s report and of
// the page's Inside tab. Plain JavaScript, no build step, no network of its own: the report
// passes its embedded data, the page a source that asks `POST /inspect`.
"use strict";

const Inside = (() => {
  const show = (c) => (c === " " ? "␣" : c === "\n" ? "↵" : c === "\t" ? "⇥" : c);
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };
  const flat = (s) => s.replace(/\n/g, "↵").replace(/\t/g, "⇥");  // a context on one line
  const fixed = (x, digits = 3) => (x === null || x === undefined ? "–" : x.toFixed(digits));

  // Colours: surprisal from white (0 bits) to red (8 bits and more); a unit's activation blue
  // (negative) to red (positive), scaled by its largest magnitude in the shown text; a
  // difference green where this model is better, purple where the other is.
  function heat(value, limit, positive, negative) {
    if (value === null || value === undefined || Number.isNaN(value)) return "transparent";
    const t = Math.max(-1, Math.min(1, value / limit));
    const [r, g, b] = t >= 0 ? positive : negative;
    const a = Math.abs(t);
    return `rgb(${Math.round(255 - a * (255 - r))},${Math.round(255 - a * (255 - g))},` +
      `${Math.round(255 - a * (255 - b))})`;
  }
  const RED = [214, 39, 40], BLUE = [31, 119, 180], GREEN = [44, 160, 44], PURPLE = [148, 103, 189];

  function render(root, data, source) {
    const {figures, view} = data;
    const chars = [...view.text];
    const state = {mode: "surprisal", unit: null, values: null, scale: 1, cursor: 0};
    root.replaceChildren();

    const summary = el("p", {className: "inside-summary"},
      `${figures.text_chars.toLocaleString()} characters, ${fixed(figures.bpc)} bits/char` +
      (figures.skipped ? `; ${figures.skipped} skipped (outside the vocabulary: ` +
        `${figures.skipped_chars.map(JSON.stringify).join(" ")})` : "") +
      (figures.compare ? `; ${figures.compare.run}: ${fixed(figures.compare.bpc)} bits/char, ` +
        `${Math.round(figures.compare.gain_bits).toLocaleString()} bits more in all` : "") +
      (chars.length < figures.text_chars ? `. The first ${chars.length.toLocaleString()} ` +
        "characters are shown" : "") +
      (figures.ranked_chars && figures.ranked_chars < figures.text_chars ? `; units are ranked ` +
        `on the first ${figures.ranked_chars.toLocaleString()}.` : "."));

    // -- the controls ---------------------------------------------------------------------
    const modes = [["surprisal", "what each character cost"], ["unit", "a unit"]];
    if (view.other_bits) modes.push(["difference", `against ${figures.compare.run}`]);
    const modeBox = el("fieldset", {className: "inside-modes"}, el("legend", {}, "Colour by"));
    for (const [value, label] of modes) {
      const input = el("input", {type: "radio", name: `mode-${root.id}`, value,
                                 checked: value === "surprisal"});
      input.dataset.mode = value;
      input.addEventListener("change", () => setMode(value));
      modeBox.append(el("label", {}, input, ` ${label}`));
    }
    const stateSelect = el("select", {className: "inside-state", ariaLabel: "layer and state"});
    for (const {layer, state: name, size} of figures.units) {
      stateSelect.append(el("option", {value: `${layer}.${name}`},
        `layer ${layer} ${name} (0-${size - 1})`));
    }
    const unitInput = el("input", {type: "number", min: 0, value: 0, className: "inside-unit",
                                   ariaLabel: "unit"});
    const unitButton = el("button", {className: "inside-show-unit"}, "Show unit");
    unitButton.addEventListener("click", () =>
      chooseUnit(`${stateSelect.value}.${Math.max(0, parseInt(unitInput.value, 10) || 0)}`));
    const picker = el("div", {className: "inside-picker"}, stateSelect, " unit ", unitInput,
      " ", unitButton);

    // -- the text, one span per character ---------------------------------------------------
    const text = el("div", {className: "inside-text", tabIndex: 0,
                            ariaLabel: "the text; arrow keys move between characters"});
    const spans = chars.map((c, i) => {
      const span = el("span", {textContent: c === "\n" ? "↵\n" : c});
      span.dataset.i = i;
      return span;
    });
    text.append(...spans);
    const detail = el("div", {className: "inside-detail", ariaLive: "polite"});
    text.addEventListener("mouseover", (event) => {
      if (event.target.dataset.i !== undefined) point(Number(event.target.dataset.i));
    });
    text.addEventListener("click", (event) => {
      if (event.target.dataset.i !== undefined) point(Number(event.target.dataset.i));
    });
    text.addEventListener("keydown", (event) => {
      const moves = {ArrowLeft: -1, ArrowRight: 1, ArrowUp: -60, ArrowDown: 60};
      if (event.key in moves) point(state.cursor + moves[event.key]);
      else if (event.key === "Home") point(0);
      else if (event.key === "End") point(chars.length - 1);
      else return;
      event.preventDefault();
    });

    function point(i) {
      i = Math.max(0, Math.min(chars.length - 1, i));
      spans[state.cursor].classList.remove("inside-cursor");
      spans[i].classList.add("inside-cursor");
      state.cursor = i;
      const bits = view.bits[i];
      const parts = [el("strong", {}, `${JSON.stringify(chars[i])} at ${i}`),
        bits === null ? " (the first character: no prediction)" : ` cost ${fixed(bits, 2)} bits`];
      if (state.mode === "unit" && state.values) {
        parts.push(`; unit ${state.unit}: ${fixed(state.values[i])}`);
      }
      if (view.other_bits && bits !== null) {
        parts.push(`; ${figures.compare.run}: ${fixed(view.other_bits[i], 2)} bits`);
      }
      const guesses = el("ol", {className: "inside-top"});
      for (const [c, p] of view.top[i] || []) {
        guesses.append(el("li", {className: c === chars[i] ? "inside-hit" : ""},
          `${show(c)} ${(p * 100).toFixed(1)}%`));
      }
      detail.replaceChildren(el("div", {}, ...parts),
        view.top[i] ? el("div", {}, "the model's top 5 here: ", guesses) : "");
    }

    function colour() {
      spans.forEach((span, i) => {
        let background;
        if (state.mode === "surprisal") background = heat(view.bits[i], 8, RED, RED);
        else if (state.mode === "difference") {
          const gain = view.bits[i] === null ? null : view.other_bits[i] - view.bits[i];
          background = heat(gain, 4, GREEN, PURPLE);
        } else background = state.values ? heat(state.values[i], state.scale, RED, BLUE) : "";
        span.style.backgroundColor = background;
      });
      root.dataset.colouredBy = state.mode === "unit" ? state.unit || "" : state.mode;
    }

    function setMode(mode) {
      state.mode = mode;
      for (const input of modeBox.querySelectorAll("input")) input.checked = input.value === mode;
      if (mode === "unit" && !state.unit) {
        const first = figures.properties.find((p) => p.best.length);
        const u = first ? first.best[0] : {layer: figures.units[0].layer,
                                           state: figures.units[0].state, unit: 0};
        return chooseUnit(`${u.layer}.${u.state}.${u.unit}`);
      }
      colour();
      point(state.cursor);
    }

    async function chooseUnit(key) {
      const [layer, name, unit] = key.split(".");
      stateSelect.value = `${layer}.${name}`;
      unitInput.value = unit;
      try {
        const {values, contexts} = await source.unit(key);
        state.unit = key;
        state.values = values;
        state.scale = Math.max(1e-6, ...values.map((v) => Math.abs(v || 0)));
        showContexts(key, contexts);
      } catch (error) {
        detail.textContent = error.message;
        return;
      }
      state.mode = "unit";
      for (const input of modeBox.querySelectorAll("input")) input.checked = input.value === "unit";
      colour();
      point(state.cursor);
    }

    // -- a unit's strongest contexts ---------------------------------------------------------
    const contextBox = el("div", {className: "inside-contexts"});
    function showContexts(key, contexts) {
      const list = (title, items) => el("div", {}, el("h4", {}, title), el("ol", {},
        ...(items || []).map(({text: t, at, value}) => el("li", {},
          el("code", {}, flat(t.slice(0, at)), el("mark", {}, show(t[at] || "")),
            flat(t.slice(at + 1))),
          ` ${fixed(value)}`))));
      contextBox.replaceChildren(el("h3", {}, `Unit ${key}: where it is most positive and ` +
        "most negative in the whole text"), list("most positive", contexts && contexts.positive),
        list("most negative", contexts && contexts.negative));
    }

    // -- which units track what ------------------------------------------------------------
    const unitButtonFor = (u) => {
      const key = `${u.layer}.${u.state}.${u.unit}`;
      const button = el("button", {className: "inside-pick"}, key);
      button.dataset.unit = key;
      button.addEventListener("click", () => chooseUnit(key));
      return button;
    };
    const rankingTable = el("table", {className: "inside-rankings"},
      el("thead", {}, el("tr", {}, ...["property", "share", "best units (score)", "permuted",
        "untrained", "probe (constant)"].map((h) => el("th", {}, h)))));
    const body = el("tbody");
    for (const p of figures.properties) {
      const best = p.best.length ? el("td", {}, ...p.best.slice(0, 3).flatMap((u) =>
        [unitButtonFor(u), ` ${fixed(u.score)} `])) : el("td", {}, "not in the text");
      body.append(el("tr", {}, el("th", {}, p.name),
        el("td", {}, p.kind === "binary" ? `${(p.positives * 100).toFixed(1)}%` :
          `mean ${fixed(p.positives, 2)}`), best,
        el("td", {}, fixed(p.baseline_permuted)), el("td", {}, fixed(p.baseline_untrained)),
        el("td", {}, p.probe ? `${fixed(p.probe.score)} (${fixed(p.probe.majority)})` +
          (p.probe.auroc === undefined ? "" : `, AUROC ${fixed(p.probe.auroc)}`) +
          `, layer ${p.probe.layer}` : "–")));
    }
    rankingTable.append(body);

    // -- the gates ---------------------------------------------------------------------------
    const gates = el("div", {className: "inside-gates"});
    for (const {layer, gate, left, right} of figures.saturation || []) {
      const size = 150, ns = "http://www.w3.org/2000/svg";
      const svg = document.createElementNS(ns, "svg");
      svg.setAttribute("viewBox", `-20 -10 ${size + 30} ${size + 30}`);
      svg.setAttribute("width", size + 30);
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", `layer ${layer} ${gate} gate: each unit's fraction of ` +
        "characters left-saturated (x) against right-saturated (y)");
      const line = document.createElementNS(ns, "path");
      line.setAttribute("d", `M0 ${size} L${size} 0 M0 0 L0 ${size} L${size} ${size}`);
      line.setAttribute("class", "inside-axes");
      svg.append(line);
      left.forEach((x, i) => {
        const dot = document.createElementNS(ns, "circle");
        dot.setAttribute("cx", x * size);
        dot.setAttribute("cy", size - right[i] * size);
        dot.setAttribute("r", 1.6);
        svg.append(dot);
      });
      gates.append(el("figure", {}, svg, el("figcaption", {}, `layer ${layer} ${gate}`)));
    }

    root.append(summary, modeBox, picker, text, detail);
    if (figures.properties.length) {  // none where only the text was read (the offline page)
      root.append(el("h3", {}, "Which units track what"),
        el("p", {className: "hint"}, "Binary properties: AUROC, either direction; counts: " +
          "|r|. Baselines: the best unit for labels permuted in blocks of 200 characters, and " +
          "the best unit of an untrained model of the same shape. Probe: a ridge fit on all " +
          "units of a layer, first half to second (accuracy and AUROC; counts R²), against a " +
          "constant."),
        rankingTable);
    }
    root.append(contextBox);
    if ((figures.saturation || []).length) {
      root.append(el("h3", {}, "How the gates behave"),
        el("p", {className: "hint"}, "Each dot is a unit: the fraction of characters with the " +
          "gate below 0.1 (x) against above 0.9 (y)."), gates);
    }
    colour();
    point(0);
    return {chooseUnit, setMode};
  }

  // The report's source: activations quantised to int8 per unit (scale per unit), base64.
  function embedded(data) {
    return {
      async unit(key) {
        const [layer, name, unit] = key.split(".");
        const block = data.activations[`${layer}.${name}`];
        const index = Number(unit);
        if (!block || !(index >= 0 && index < block.scale.length)) {
          throw new Error(`unit ${key} is not one of this model's`);
        }
        const bytes = Uint8Array.from(atob(block.values), (c) => c.charCodeAt(0));
        const count = bytes.length / block.scale.length;
        const row = new Int8Array(bytes.buffer, index * count, count);
        return {values: Array.from(row, (v) => (v / 127) * block.scale[index]),
                contexts: data.figures.contexts[key]};
      },
    };
  }

  return {render, embedded};
})();
