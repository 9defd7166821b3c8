// The charrnn page: a predictive keyboard, streamed continuation, a human-or-machine game and
// a look inside the model (inside.js, the script of `charrnn inspect`'s report), all on the
// JSON API of `charrnn serve`. Plain JavaScript, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const shown = (c) => (c === " " ? "␣" : c === "\n" ? "↵" : c === "\t" ? "⇥" : c);

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

// -- the model ---------------------------------------------------------------------------

let vocabulary = "";

async function describeModel() {
  const info = await api("/model");
  vocabulary = info.vocabulary;
  $("temperature").value = info.temperature;  // charrnn's default for writing (generate's)
  const m = info.model;
  const score = info.test_bpc ? `, ${info.test_bpc.toFixed(3)} bits/char on its test split` : "";
  $("model").textContent = `${info.run}: ${m.layers} x ${m.hidden} ${m.model.toUpperCase()}, ` +
    `${info.parameters.toLocaleString()} parameters${score}`;
  $("tab-game").hidden = !info.game;
  if (info.game) newRound();
}

// -- the tabs ----------------------------------------------------------------------------

const tabs = [...document.querySelectorAll('[role="tab"]')];

function selectTab(chosen) {
  for (const tab of tabs) {
    const selected = tab === chosen;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  chosen.focus();
}

tabs.forEach((tab) => {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (event) => {  // arrow keys move between tabs (WAI-ARIA)
    const visible = tabs.filter((t) => !t.hidden);
    const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
    if (!step) return;
    selectTab(visible[(visible.indexOf(tab) + step + visible.length) % visible.length]);
  });
});

// -- the keyboard ------------------------------------------------------------------------

const text = $("text");
let asked = 0;  // answers to older keystrokes are dropped

function known(s) { return [...s].filter((c) => vocabulary.includes(c)).join(""); }

async function suggest() {
  const ticket = ++asked;
  const typed = known(text.value);
  try {
    const {next} = await api("/next", {text: typed, k: 6});
    if (ticket !== asked) return;
    const box = $("suggestions");
    box.replaceChildren(...next.map(({char, p}) => {
      const chip = document.createElement("button");
      chip.className = "suggestion";
      chip.dataset.char = char;
      chip.textContent = shown(char);
      const share = document.createElement("small");
      share.textContent = `${Math.round(p * 100)}%`;
      chip.append(share);
      chip.addEventListener("click", () => take(char));
      return chip;
    }));
  } catch (error) {
    $("status").textContent = error.message;
  }
}

function take(char) {
  text.value += char;
  text.focus();
  suggest();
}

let pending;
text.addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(suggest, 40); });
text.addEventListener("keydown", (event) => {
  const first = document.querySelector(".suggestion");
  if (event.key === "Tab" && first) { event.preventDefault(); take(first.dataset.char); }
});

// -- continuing the text, streamed -------------------------------------------------------

let reader = null;

async function continueText() {
  $("continue").disabled = true;
  $("stop").disabled = false;
  $("status").textContent = "writing…";
  const body = {seed: known(text.value), length: Number($("length").value),
                temperature: Number($("temperature").value), stream: true, show_copied: true};
  if ($("pattern").value) body.pattern = $("pattern").value;
  $("copied").hidden = true;
  try {
    const response = await fetch("/generate", {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    if (!response.ok) throw new Error((await response.json()).error);
    reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      const events = buffer.split("\n\n");
      buffer = events.pop();
      for (const event of events) {
        const data = JSON.parse(event.slice(event.indexOf("data: ") + 6));
        if (event.startsWith("event: done")) {
          $("status").textContent = `${data.text.length} characters, ` +
            `${Math.round(data.chars_per_s).toLocaleString()} chars/s`;
          showCopied(data.text, data.copies || []);
        } else if (event.startsWith("event: error")) {
          throw new Error(data.error);
        } else {
          text.value += data.text;
          text.scrollTop = text.scrollHeight;
        }
      }
    }
  } catch (error) {
    $("status").textContent = error.name === "AbortError" ? "stopped" : error.message;
  } finally {
    reader = null;
    $("continue").disabled = false;
    $("stop").disabled = true;
    suggest();
  }
}

// What the continuation copied from the training text: each stretch marked, the corpus
// around it on hover.
function showCopied(written, copies) {
  const marked = [];
  let at = 0;
  for (const copy of copies) {
    const start = Math.max(copy.start, at);
    if (copy.end <= start) continue;  // inside the stretch before (copies may overlap)
    marked.push(document.createTextNode(written.slice(at, start)));
    const mark = document.createElement("mark");
    mark.textContent = written.slice(start, copy.end);
    mark.title = `in the training text${copy.occurrences > 1 ? ` (${copy.occurrences} times)` : ""}:\n…${copy.context}…`;
    marked.push(mark);
    at = copy.end;
  }
  marked.push(document.createTextNode(written.slice(at)));
  $("copied-text").replaceChildren(...marked);
  const longest = Math.max(0, ...copies.map((c) => c.end - c.start));
  $("copied-summary").textContent = copies.length
    ? `Copied from the training text (marked; hover for where): ${copies.length} ` +
      `stretch${copies.length > 1 ? "es" : ""}, the longest ${longest} characters.`
    : "Nothing of 20 characters or more was copied from the training text.";
  $("copied").hidden = false;
}

$("continue").addEventListener("click", continueText);
$("stop").addEventListener("click", () => {
  if (reader) reader.cancel();
  $("status").textContent = "stopped";
});

// -- human or machine? -------------------------------------------------------------------

let round = null;
const score = JSON.parse(localStorage.getItem("charrnn-score") || '{"right":0,"played":0}');

function showScore() {
  $("score").textContent = `${score.right} / ${score.played}`;
  localStorage.setItem("charrnn-score", JSON.stringify(score));
}

async function newRound() {
  for (const id of ["guess-human", "guess-machine", "next-round"]) $(id).disabled = true;
  $("game-result").textContent = "";
  $("game-text").textContent = "…";
  const dealt = await api("/game/round");
  round = dealt.round;
  $("game-text").textContent = dealt.text;
  $("guess-human").disabled = $("guess-machine").disabled = false;
}

async function guess(who) {
  $("guess-human").disabled = $("guess-machine").disabled = true;
  const verdict = await api("/game/guess", {round, guess: who});
  score.played += 1;
  score.right += verdict.correct ? 1 : 0;
  showScore();
  const result = $("game-result");
  result.className = verdict.correct ? "right" : "wrong";
  result.textContent = (verdict.correct ? "Right: " : "Wrong: ") +
    (verdict.answer === "human" ? "a person wrote it (the corpus's test split)."
      : `the model wrote it (temperature ${verdict.temperature}).`);
  $("next-round").disabled = false;
}

$("guess-human").addEventListener("click", () => guess("human"));
$("guess-machine").addEventListener("click", () => guess("machine"));
$("next-round").addEventListener("click", newRound);
$("reset-score").addEventListener("click", () => { score.right = score.played = 0; showScore(); });

// -- inside the model --------------------------------------------------------------------

async function inspectText() {
  const typed = $("inside-input").value;  // the server skips and counts unknown characters
  $("inspect").disabled = true;
  $("inside-status").textContent = "inspecting…";
  try {
    const answer = await api("/inspect", {text: typed, figures: true});
    const source = {
      async unit(key) {
        const {activations, contexts} = await api("/inspect", {text: typed, units: [key]});
        return {values: activations[key], contexts: contexts[key]};
      },
    };
    Inside.render($("inside-view"), {figures: answer, view: answer.view}, source);
    $("inside-status").textContent = "";
  } catch (error) {
    $("inside-status").textContent = error.message;
  } finally {
    $("inspect").disabled = false;
  }
}

$("inspect").addEventListener("click", inspectText);

showScore();
describeModel().catch((error) => { $("model").textContent = error.message; });
