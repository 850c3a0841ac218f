// The drawing page: a canvas sent as PNG to POST /predict/image, both models' answers shown.
// Plain JavaScript, no dependencies, no build step.
"use strict";

const LABELS = { mlp: "MLP (Keras)", xgboost: "XGBoost" };
const STROKE = 18; // px on the 280 px pad: about MNIST's stroke once scaled to 20 px
const LIVE_EVERY_MS = 250; // predictions while drawing, at most this often
const KEY_STEP = 10; // px the keyboard pen moves per arrow key

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const pen = document.getElementById("pen");
const seen = document.getElementById("seen");
const seenCtx = seen.getContext("2d");
const statusLine = document.getElementById("status");
const agreement = document.getElementById("agreement");
const modelsBox = document.getElementById("models");
const upload = document.getElementById("upload");

let drawing = null; // {id, x, y} of the pointer drawing now
let inked = false; // anything on the pad since the last clear
let lastLive = 0;
let inFlight = false;
let pending = false; // a newer drawing is waiting for the request in flight
let sequence = 0; // answers to older requests are dropped
const keyPen = { x: pad.width / 2, y: pad.height / 2 };
const cards = new Map();

function resetPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#000";
  ctx.lineWidth = STROKE;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  inked = false;
}

function modelCard(name) {
  if (cards.has(name)) return cards.get(name);
  const node = document.getElementById("model-template").content.firstElementChild.cloneNode(true);
  node.querySelector(".model-name").textContent = LABELS[name] || name;
  const digit = node.querySelector(".digit");
  digit.dataset.testid = `prediction-${name}`;
  node.setAttribute("aria-label", `${LABELS[name] || name} prediction`);
  const bars = node.querySelector(".bars");
  for (let d = 0; d < 10; d++) {
    const li = document.createElement("li");
    li.innerHTML =
      '<span class="bar-digit"></span><span class="bar-track"><span class="bar"></span></span>' +
      '<span class="bar-value"></span>';
    li.querySelector(".bar-digit").textContent = d;
    bars.appendChild(li);
  }
  modelsBox.appendChild(node);
  const card = { node, digit, confidence: node.querySelector(".confidence"), bars };
  cards.set(name, card);
  clearCard(card);
  return card;
}

function clearCard(card) {
  card.digit.textContent = "–";
  card.confidence.textContent = "";
  card.node.classList.remove("has-answer");
  card.bars.querySelectorAll("li").forEach((li) => {
    li.classList.remove("top");
    li.querySelector(".bar").style.width = "0%";
    li.querySelector(".bar-value").textContent = "";
    li.setAttribute("aria-label", `${li.querySelector(".bar-digit").textContent}: no answer`);
  });
}

function percent(p) {
  return p >= 0.995 ? "100%" : p < 0.005 ? "0%" : `${(p * 100).toFixed(0)}%`;
}

function showAnswer(answer) {
  const names = Object.keys(answer).filter((k) => answer[k] && "predicted_number" in answer[k]);
  for (const name of names) {
    const card = modelCard(name);
    const { predicted_number: digit, confidence, probabilities } = answer[name];
    card.digit.textContent = String(digit);
    card.confidence.textContent = `${percent(confidence)} sure`;
    card.node.classList.add("has-answer");
    card.bars.querySelectorAll("li").forEach((li, d) => {
      const p = probabilities[d];
      li.classList.toggle("top", d === digit);
      li.querySelector(".bar").style.width = `${(p * 100).toFixed(1)}%`;
      li.querySelector(".bar-value").textContent = percent(p);
      li.setAttribute("aria-label", `${d}: ${percent(p)}`);
    });
  }
  const said = names.map((n) => `${LABELS[n] || n} says ${answer[n].predicted_number}`);
  const digits = new Set(names.map((n) => answer[n].predicted_number));
  agreement.classList.toggle("agree", digits.size === 1);
  agreement.classList.toggle("disagree", digits.size > 1);
  agreement.textContent =
    digits.size === 1
      ? `The models agree: it is a ${[...digits][0]}.`
      : `The models disagree: ${said.join(", ")}.`;
  showSeen(answer.image_vector);
}

function describe(source, image) {
  if (!image) return source;
  const ink = image.inverted ? "dark ink on light" : "light ink on dark";
  return `${source}: ${image.width}×${image.height} ${image.format}, ${ink}.`;
}

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function showSeen(rows) {
  const image = seenCtx.createImageData(28, 28);
  rows.flat().forEach((v, i) => {
    image.data.set([v, v, v, 255], i * 4);
  });
  seenCtx.putImageData(image, 0, 0);
}

function resetResults(message, isError = false) {
  sequence++; // answers still on their way are now stale
  cards.forEach(clearCard);
  agreement.textContent = "No prediction yet.";
  agreement.classList.remove("agree", "disagree");
  seenCtx.fillStyle = "#000";
  seenCtx.fillRect(0, 0, 28, 28);
  setStatus(message, isError);
}

// A server started with MNIST_SERVE_API_TOKEN answers 401: ask once, keep it for the tab.
const TOKEN_KEY = "mnist-serve-token";

function askToken() {
  const token = window.prompt("This server needs an API token (MNIST_SERVE_API_TOKEN):");
  if (!token) return false;
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  return true;
}

function postImage(body, contentType) {
  const headers = {};
  if (contentType) headers["Content-Type"] = contentType;
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch("/predict/image", { method: "POST", body, headers });
}

async function predict(body, contentType, source) {
  const mine = ++sequence;
  inFlight = true;
  try {
    let response = await postImage(body, contentType);
    if (response.status === 401 && askToken()) response = await postImage(body, contentType);
    const answer = await response.json();
    if (mine !== sequence) return;
    if (!response.ok) {
      resetResults(`Could not read that: ${answer.error || response.statusText}`, true);
      return;
    }
    showAnswer(answer);
    setStatus(describe(source, answer.image));
  } catch (error) {
    if (mine === sequence) setStatus(`The server did not answer (${error.message}).`, true);
  } finally {
    inFlight = false;
    if (pending) {
      pending = false;
      predictPad();
    }
  }
}

function predictPad() {
  if (!inked) return;
  if (inFlight) {
    pending = true;
    return;
  }
  lastLive = performance.now();
  // Cleared before the blob was ready: nothing to predict any more.
  pad.toBlob((blob) => blob && inked && predict(blob, "image/png", "Your drawing"), "image/png");
}

// --- drawing with mouse, pen or touch ------------------------------------------------------

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return {
    x: ((event.clientX - box.left) / box.width) * pad.width,
    y: ((event.clientY - box.top) / box.height) * pad.height,
  };
}

function dot(x, y) {
  ctx.beginPath();
  ctx.arc(x, y, STROKE / 2, 0, 2 * Math.PI);
  ctx.fill();
  inked = true;
}

function line(from, to) {
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
  inked = true;
}

pad.addEventListener("pointerdown", (event) => {
  if (event.button !== 0 || drawing) return;
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  const p = padPoint(event);
  drawing = { id: event.pointerId, ...p };
  dot(p.x, p.y);
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing || event.pointerId !== drawing.id) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) {
    const p = padPoint(e);
    line(drawing, p);
    drawing.x = p.x;
    drawing.y = p.y;
  }
  if (performance.now() - lastLive > LIVE_EVERY_MS) predictPad();
});

function endStroke(event) {
  if (!drawing || event.pointerId !== drawing.id) return;
  drawing = null;
  predictPad();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

// --- keyboard: arrows draw, Shift + arrows move, Escape clears ----------------------------

const MOVES = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };

function placePen() {
  const box = pad.getBoundingClientRect();
  const k = box.width / pad.width;
  pen.style.left = `${keyPen.x * k}px`;
  pen.style.top = `${keyPen.y * k}px`;
}

pad.addEventListener("keydown", (event) => {
  if (event.key === "Escape" || event.key === "Delete") {
    event.preventDefault();
    clearAll();
    return;
  }
  const move = MOVES[event.key];
  if (!move) return;
  event.preventDefault();
  const from = { ...keyPen };
  keyPen.x = Math.min(pad.width - STROKE / 2, Math.max(STROKE / 2, keyPen.x + move[0] * KEY_STEP));
  keyPen.y = Math.min(pad.height - STROKE / 2, Math.max(STROKE / 2, keyPen.y + move[1] * KEY_STEP));
  if (!event.shiftKey) line(from, keyPen);
  placePen();
});
pad.addEventListener("keyup", (event) => {
  if (MOVES[event.key] && !event.shiftKey) predictPad();
});
pad.addEventListener("focus", () => {
  pen.hidden = false;
  placePen();
});
pad.addEventListener("blur", () => {
  pen.hidden = true;
});

// --- clear and upload ---------------------------------------------------------------------

function clearAll() {
  resetPad();
  resetResults("Cleared. Draw a digit.");
}

document.getElementById("clear").addEventListener("click", clearAll);

upload.addEventListener("change", () => {
  const file = upload.files[0];
  if (!file) return;
  resetPad();
  // Show the upload on the pad (fitted, on white); the server reads the file itself.
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    const k = Math.min(pad.width / img.naturalWidth, pad.height / img.naturalHeight);
    const w = img.naturalWidth * k;
    const h = img.naturalHeight * k;
    ctx.drawImage(img, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    URL.revokeObjectURL(url);
  };
  img.onerror = () => URL.revokeObjectURL(url);
  img.src = url;
  const form = new FormData();
  form.append("image", file);
  setStatus(`Reading ${file.name}…`);
  predict(form, null, file.name);
  upload.value = ""; // the same file can be chosen again
});

// --- start ---------------------------------------------------------------------------------

async function start() {
  resetPad();
  resetResults("Draw a digit to begin.");
  try {
    const response = await fetch("/health/ready");
    const ready = await response.json();
    (ready.models || []).forEach((m) => modelCard(m.name));
  } catch {
    // The cards appear with the first answer instead.
  }
  window.addEventListener("resize", placePen);
}

start();
