// A participant's way through a study: consent, then each step in order (paint what the model
// needs, predict its class, explore with answers, questions), everything recorded by the web app.
// The participant's random id stays in this browser, so a reload resumes on the same step.
import { blobToBase64, explain, getModels } from "./api.js";
import { MaskCanvas } from "./mask_canvas.js";

const studyId = document.body.dataset.study;
const STORAGE_KEY = `maskscope-study-${studyId}`;
const $ = (selector) => document.querySelector(selector);
const ui = {
  title: $("#study-title"), progress: $("#study-progress"), banner: $("#banner"), consent: $("#consent"),
  consentText: $("#consent-text"), task: $("#task"), taskTitle: $("#task-title"), taskHelp: $("#task-help"),
  tools: $("#task-tools"), classify: $("[data-action=classify]"), showMap: $("[data-action=show-map]"), stage: $("#task-stage"), answer: $("#answer"),
  predict: $("#predict"), predictLabel: $("#predict-label"), labels: $("#labels"), likert: $("#likert"),
  likertText: $("#likert-text"), likertOptions: $("#likert-options"), freeText: $("#free-text"),
  freeTextLabel: $("#free-text-label"), freeTextValue: $("#free-text-value"), done: $("#done"),
};
const painter = new MaskCanvas($("#canvas"));
const state = { participant: null, study: null, step: 0, photo: 0, imageIds: {}, busy: false,
  strokes: Promise.resolve() }; // stroke summaries are sent in order, before what follows them

const TITLES = {
  "before:paint": "Paint what you think the model needs to see",
  "after:paint": "Again: paint what you think the model needs to see",
  "before:predict": "Which class do you expect the model to say?",
  "after:predict": "Again: which class do you expect the model to say?",
  explore: "Explore: paint over the photo and classify it",
};

async function call(path, options = {}) {
  const response = await fetch(`/api/study/${encodeURIComponent(studyId)}${path}`, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw Object.assign(new Error(body.error || response.statusText), { status: response.status, code: body.code });
  }
  return body;
}

const participantPath = () => `/participants/${encodeURIComponent(state.participant)}`;

function record(kind, payload = {}, step = state.step) {
  return call(`${participantPath()}/events`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ kind, step, payload }) });
}

function showBanner(text) {
  ui.banner.textContent = text;
  ui.banner.hidden = false;
}

function show(section) {
  for (const s of [ui.consent, ui.task, ui.done]) s.hidden = s !== section;
}

async function begin() {
  let saved = localStorage.getItem(STORAGE_KEY);
  // A new participant only when this browser has none, or the study no longer knows it (404):
  // a network error or a busy server must not start someone over.
  let where = saved ? await call(`/participants/${encodeURIComponent(saved)}`).catch((error) => {
    if (error.status === 404) return null;
    throw error;
  }) : null;
  if (!where) {
    saved = (await call("/participants", { method: "POST" })).participant;
    localStorage.setItem(STORAGE_KEY, saved);
    where = await call(`/participants/${encodeURIComponent(saved)}`);
  }
  state.participant = saved;
  state.study = where.study;
  state.step = where.step;
  state.resumeAt = where.photo || 0;  // a reload within a step goes on from the photo it was on
  ui.title.textContent = state.study.title;
  // Their only name here: with it, a participant who withdraws can have their data deleted.
  for (const id of document.querySelectorAll(".participant-id")) id.textContent = saved;
  if (where.finished) { show(ui.done); return; }
  if (!where.consented) {
    ui.consentText.textContent = state.study.consent;
    show(ui.consent);
    return;
  }
  await startStep();
}

async function agree() {
  await record("consent", {}, 0);
  await startStep();
}

function currentStep() { return state.study.steps[state.step]; }
const photoUrl = () => `/study/${encodeURIComponent(studyId)}/photos/${state.photo}`;

async function startStep() {
  const steps = state.study.steps;
  if (state.step >= steps.length) {
    await record("finish", {}, steps.length);
    show(ui.done);
    ui.progress.textContent = "";
    return;
  }
  const answered = state.resumeAt || 0;
  state.resumeAt = 0;
  await record("step-start");
  const step = currentStep();
  // Every photo answered but the step not ended (the page went away in between): end it now.
  if (step.kind !== "explore" && step.kind !== "question" && answered >= state.study.photos) {
    await endStep();
    return;
  }
  state.photo = answered;
  await showTask();
}

async function endStep() {
  await record("step-end");
  state.step += 1;
  await startStep();
}

// A photo's answer; one stored already (this request's reply was lost, and it is sent again) is
// the same answer, not an error.
async function answer(kind, payload) {
  try {
    await record(kind, payload);
  } catch (error) {
    if (error.code !== "AlreadyAnswered") throw error;
  }
}

async function showTask() {
  const step = currentStep();
  show(ui.task);
  ui.progress.textContent = `Step ${state.step + 1} of ${state.study.steps.length}`;
  const photoTask = step.kind !== "question";
  const painting = step.kind === "explore" || step.task !== "predict";
  ui.taskTitle.textContent = step.kind === "question" ? "A question" : TITLES[step.kind === "explore" ? "explore"
    : `${step.kind}:${step.task || "paint"}`];
  const suggested = step.kind === "explore" && step.minutes
    ? ` Take about ${step.minutes} minute${step.minutes === 1 ? "" : "s"}.` : "";
  ui.taskHelp.textContent = photoTask ? `Photo ${state.photo + 1} of ${state.study.photos}.${suggested}` : "";
  ui.stage.hidden = !photoTask;
  ui.tools.hidden = !(photoTask && painting);
  ui.classify.hidden = step.kind !== "explore";
  ui.showMap.hidden = !(step.kind === "explore" && step.map);
  ui.answer.textContent = "";
  ui.predict.hidden = !(photoTask && step.task === "predict" && step.kind !== "explore");
  ui.likert.hidden = !(step.kind === "question" && step.scale !== "text");
  ui.freeText.hidden = !(step.kind === "question" && step.scale === "text");
  if (photoTask) {
    const bitmap = await createImageBitmap(await (await fetch(photoUrl())).blob());
    painter.setImage(bitmap);
  }
  if (!ui.predict.hidden) { ui.predictLabel.value = ""; await loadLabels(); }
  if (step.kind === "question") showQuestion(step);
}

async function loadLabels() {
  if (ui.labels.options.length) return;
  const { models, default_model: fallback } = await getModels(true);
  const model = models.find((m) => m.name === (state.study.model || fallback)) || models[0];
  ui.labels.replaceChildren(...model.labels.map((label) => new Option(label)));
}

function showQuestion(step) {
  if (step.scale === "text") {
    ui.freeTextLabel.textContent = step.text;
    ui.freeTextValue.value = "";
    return;
  }
  ui.likertText.textContent = step.text;
  const points = step.scale === "likert7" ? 7 : 5;
  ui.likertOptions.replaceChildren(...Array.from({ length: points }, (_, k) => {
    const label = document.createElement("label");
    label.className = "check";
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "likert", value: k + 1 });
    label.append(input, ` ${k + 1}`);
    return label;
  }));
}

async function classifyHere() {
  const name = state.photo;
  let answer;
  try {
    answer = await classifyOnce(name);
  } catch (error) {
    // The service has forgotten the photo (restarted, or evicted it): send the photo itself again.
    if (error.code !== "NOT_FOUND" || !state.imageIds[name]) throw error;
    delete state.imageIds[name];
    answer = await classifyOnce(name);
  }
  state.imageIds[name] = answer.image_id;
  const top = answer.predictions[0];
  ui.answer.textContent = `The model says: ${top.label} (${(top.probability * 100).toFixed(0)}%)`;
}

async function classifyOnce(name) {
  const form = new FormData();
  if (state.imageIds[name]) form.append("image_id", state.imageIds[name]);
  else form.append("image", await (await fetch(photoUrl())).blob(), "photo");
  const mask = await painter.maskBlob();
  if (mask) form.append("mask", mask, "mask.png");
  form.append("step", String(state.step));
  form.append("fill", state.study.fill);
  if (state.study.model) form.append("model", state.study.model);
  return call(`${participantPath()}/classify`, { method: "POST", body: form });
}

// The model's occlusion map over the photo, in an explore step that shows it.
async function showModelMap() {
  if (!state.imageIds[state.photo]) await classifyHere();
  ui.answer.textContent = "Hiding one square at a time to see where the model looks…";
  const map = await explain({ imageId: state.imageIds[state.photo], model: state.study.model, fill: state.study.fill },
    () => {});
  painter.setHeatMap(map);
  painter.showHeatMap(true);
  ui.answer.textContent = `Bright: where hiding the photo costs “${map.label}” the most.`;
  // Logged for the researcher; the map is drawn already, so a failed write is no error to show.
  await record("map-view", { photo: state.photo, label: map.label }).catch(() => {});
}

// Each finished stroke, as a summary: how many strokes and how much of the photo is painted.
painter.addEventListener("change", ({ detail: { final } }) => {
  const step = state.study && currentStep();
  if (!final || !step || step.kind === "question" || ui.task.hidden) return;
  const payload = { photo: state.photo, strokes: painter.strokes.length,
    painted: Number(painter.paintedFraction().toFixed(4)) };
  state.strokes = state.strokes.then(() => record("stroke", payload)).catch(() => {});
});

// Records what this step asked of the participant, then moves to the next photo, or step.
async function next() {
  await state.strokes;
  const step = currentStep();
  if (step.kind === "question") {
    const value = step.scale === "text" ? ui.freeTextValue.value.trim()
      : Number(document.querySelector("input[name=likert]:checked")?.value || 0);
    if (!value) { showBanner("Please answer before going on."); return; }
    await record("answer", { question: step.id, value });
  } else if (step.kind !== "explore" && step.task === "predict") {
    const label = ui.predictLabel.value.trim();
    if (!label) { showBanner("Please name the class you expect."); return; }
    await answer("prediction", { photo: state.photo, label });
  } else if (step.kind !== "explore") {
    await answer("map", { photo: state.photo, mask: await blobToBase64(await painter.maskBlob()) });
  }
  ui.banner.hidden = true;
  if (step.kind !== "question" && state.photo + 1 < state.study.photos) {
    state.photo += 1;
    await showTask();
    return;
  }
  await endStep();
}

async function guarded(action) {
  if (state.busy) return;
  state.busy = true;
  try {
    await action();
  } catch (error) {
    showBanner(error.code === "Finished" ? "You have finished this study already." : error.message);
  } finally {
    state.busy = false;
  }
}

const ACTIONS = { agree, next, classify: classifyHere, "show-map": showModelMap, undo: () => painter.undo(),
  clear: () => painter.clear() };
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (button && ACTIONS[button.dataset.action]) guarded(ACTIONS[button.dataset.action]);
});
guarded(begin);
