// A participant's way through a study: consent, then each step of their condition in order (paint
// what the model needs, predict its class, explore with answers, questions), everything recorded by
// the web app. The participant's random id stays in this browser, so a reload resumes on the same
// step. Steps are named by their number in the study's whole list; the server says which are theirs.
import { StudyApi, blobToBase64, explain, getModels, getPhoto } from "./api.js";
import { MaskCanvas } from "./mask_canvas.js";
import { forgotten } from "./painting_session.js";
import { stepCapabilities, stepPosition } from "./study_steps.js";

const studyId = document.body.dataset.study;
const api = new StudyApi(studyId);
const STORAGE_KEY = `maskscope-study-${studyId}`;
const $ = (selector) => document.querySelector(selector);
const ui = {
  title: $("#study-title"), progress: $("#study-progress"), banner: $("#banner"), consent: $("#consent"),
  consentText: $("#consent-text"), task: $("#task"), taskTitle: $("#task-title"), taskHelp: $("#task-help"),
  tools: $("#task-tools"), undo: $("[data-action=undo]"), clear: $("[data-action=clear]"),
  classify: $("[data-action=classify]"), showMap: $("[data-action=show-map]"), stage: $("#task-stage"),
  canvas: $("#canvas"), answer: $("#answer"),
  predict: $("#predict"), predictLabel: $("#predict-label"), labels: $("#labels"), likert: $("#likert"),
  likertText: $("#likert-text"), likertOptions: $("#likert-options"), freeText: $("#free-text"),
  freeTextLabel: $("#free-text-label"), freeTextValue: $("#free-text-value"), done: $("#done"),
  trial: $("#trial"), trialImage: $("#trial-image"), trialText: $("#trial-text"), trialChoices: $("#trial-choices"),
  trialConfidence: $("#trial-confidence"), trialLevels: $("#trial-levels"),
};
const painter = new MaskCanvas($("#canvas"));
const state = {
  participant: null,
  study: null,
  step: 0,
  photo: 0, // the step's photo, by number
  resumeAt: 0, // the photo a reload within a step goes on from
  imageIds: {}, // photo number -> the service's id for it
  busy: false,
  strokes: Promise.resolve(), // stroke summaries are sent in order, before what follows them
};

const TITLES = {
  "before:paint": "Paint what you think the model needs to see",
  "after:paint": "Again: paint what you think the model needs to see",
  "before:predict": "Which class do you expect the model to say?",
  "after:predict": "Again: which class do you expect the model to say?",
  explore: "Explore: paint over the photo and classify it",
  "explore:look": "Explore: what the model says about each photo",
  forward: "Which class will the model say?",
  counterfactual: "Part of the photo is hidden",
};

const record = (kind, payload = {}, step = state.step) => api.record(state.participant, { kind, step, payload });

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
  let where = saved ? await api.where(saved).catch((error) => {
    if (error.status === 404) return null;
    throw error;
  }) : null;
  if (!where) {
    saved = (await api.join()).participant;
    localStorage.setItem(STORAGE_KEY, saved);
    where = await api.where(saved);
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

function currentStep() { return stepPosition(state.study.steps, state.step).step; }
// How many photos a step goes through: a trial step's own, else the study's.
const photoCount = (can) => can.photoCount ?? state.study.photos;
const photoUrl = () => `/study/${encodeURIComponent(studyId)}/photos/${state.photo}`;

async function startStep() {
  if (!currentStep()) { // past their last step (the server moved them to the study's end)
    await record("finish", {}, state.study.step_count);
    show(ui.done);
    ui.progress.textContent = "";
    return;
  }
  const answered = state.resumeAt;
  state.resumeAt = 0;
  await record("step-start");
  // Every photo answered but the step not ended (the page went away in between): end it now.
  const can = stepCapabilities(currentStep());
  if (can.answersEachPhoto && answered >= photoCount(can)) {
    await endStep();
    return;
  }
  state.photo = answered;
  await showTask();
}

async function endStep() {
  // The server says which step comes next: the next one this participant's condition sees.
  state.step = (await record("step-end")).step;
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
  const can = stepCapabilities(step);
  show(ui.task);
  const { number, of } = stepPosition(state.study.steps, state.step);
  ui.progress.textContent = `Step ${number} of ${of}`;
  ui.taskTitle.textContent = can.asks ? "A question" : can.trial ? TITLES[step.kind]
    : TITLES[can.explores ? (can.paints ? "explore" : "explore:look") : `${step.kind}:${step.task || "paint"}`];
  const suggested = can.explores && step.minutes
    ? ` Take about ${step.minutes} minute${step.minutes === 1 ? "" : "s"}.` : "";
  ui.taskHelp.textContent = can.photos || can.trial ? `Photo ${state.photo + 1} of ${photoCount(can)}.${suggested}` : "";
  ui.stage.hidden = !can.photos;
  // Only what the participant's condition allows is on the page: no painting tools (and no painting
  // on the photo) without paint, no "where does the model look?" without the map.
  ui.tools.hidden = !can.paints && !can.showsMap;
  ui.undo.hidden = ui.clear.hidden = !can.paints;
  ui.classify.hidden = !can.classifies;
  ui.showMap.hidden = !can.showsMap;
  ui.canvas.style.pointerEvents = can.answersPlainPhoto ? "none" : "";
  ui.answer.textContent = "";
  ui.predict.hidden = !can.predicts;
  ui.likert.hidden = !can.scalePoints;
  ui.freeText.hidden = !can.freeText;
  ui.trial.hidden = !can.trial;
  if (can.trial) { await showTrial(); return; }
  if (can.photos) painter.setImage(await createImageBitmap(await getPhoto(photoUrl())));
  if (can.answersPlainPhoto) await classifyHere(); // nothing painted: the model's answer for the photo
  if (can.predicts) { ui.predictLabel.value = ""; await loadLabels(); }
  if (can.asks) showQuestion(step, can);
}

// A trial as the server draws it: the photo (a counterfactual's with a region hidden) and the
// choices; the confidence scale once one is chosen. The model's answer is never asked for here.
async function showTrial() {
  const shown = await api.trial(state.participant, { step: state.step, photo: state.photo });
  ui.trialImage.src = shown.image;
  ui.trialText.textContent = shown.kind === "counterfactual"
    ? `With the gray part hidden, will the model still say “${shown.label}”?`
    : "Which of these will the model say about this photo?";
  const radio = (name, value, text) => {
    const label = document.createElement("label");
    label.className = "check";
    label.append(Object.assign(document.createElement("input"), { type: "radio", name, value }), ` ${text}`);
    return label;
  };
  ui.trialChoices.replaceChildren(...shown.choices.map((c) => radio("trial-choice", c, c)));
  ui.trialLevels.replaceChildren(...[1, 2, 3, 4, 5].map((k) => radio("trial-confidence", k, k)));
  ui.trialConfidence.hidden = true;
}

ui.trialChoices.addEventListener("change", () => { ui.trialConfidence.hidden = false; });

async function loadLabels() {
  if (ui.labels.options.length) return;
  const { models, default_model: fallback } = await getModels(true);
  const model = models.find((m) => m.name === (state.study.model || fallback)) || models[0];
  ui.labels.replaceChildren(...model.labels.map((label) => new Option(label)));
}

function showQuestion(step, can) {
  if (can.freeText) {
    ui.freeTextLabel.textContent = step.text;
    ui.freeTextValue.value = "";
    return;
  }
  ui.likertText.textContent = step.text;
  ui.likertOptions.replaceChildren(...Array.from({ length: can.scalePoints }, (_, k) => {
    const label = document.createElement("label");
    label.className = "check";
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "likert", value: k + 1 });
    label.append(input, ` ${k + 1}`);
    return label;
  }));
}

async function classifyHere() {
  const number = state.photo;
  const photoItself = async () => ({ image: await getPhoto(photoUrl()) });
  const sent = state.imageIds[number] ? { imageId: state.imageIds[number] } : await photoItself();
  let answer;
  try {
    answer = await classifyPhoto(sent);
  } catch (error) {
    if (!forgotten(error, sent)) throw error;
    answer = await classifyPhoto(await photoItself());
  }
  state.imageIds[number] = answer.image_id;
  const top = answer.predictions[0];
  ui.answer.textContent = `The model says: ${top.label} (${(top.probability * 100).toFixed(0)}%)`;
}

// `photo`: {imageId} or {image}.
async function classifyPhoto(photo) {
  return api.classify(state.participant, { ...photo, mask: await painter.maskBlob(), step: state.step,
    fill: state.study.fill, model: state.study.model });
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
  const can = step && stepCapabilities(step);
  if (!final || !can || !can.photos || can.answersPlainPhoto || ui.task.hidden) return;
  const payload = { photo: state.photo, strokes: painter.strokes.length,
    painted: Number(painter.paintedFraction().toFixed(4)) };
  state.strokes = state.strokes.then(() => record("stroke", payload)).catch(() => {});
});

// Records what this step asked of the participant, then moves to the next photo, or step.
async function next() {
  await state.strokes;
  const step = currentStep();
  const can = stepCapabilities(step);
  if (can.asks) {
    const value = can.freeText ? ui.freeTextValue.value.trim()
      : Number(document.querySelector("input[name=likert]:checked")?.value || 0);
    if (!value) { showBanner("Please answer before going on."); return; }
    await record("answer", { question: step.id, value });
  } else if (can.predicts) {
    const label = ui.predictLabel.value.trim();
    if (!label) { showBanner("Please name the class you expect."); return; }
    await answer("prediction", { photo: state.photo, label });
  } else if (can.trial) {
    const choice = document.querySelector("input[name=trial-choice]:checked")?.value;
    const confidence = Number(document.querySelector("input[name=trial-confidence]:checked")?.value || 0);
    if (!choice || !confidence) { showBanner("Please choose an answer and how sure you are."); return; }
    try {
      await api.answerTrial(state.participant, { step: state.step, photo: state.photo, choice, confidence });
    } catch (error) {
      if (error.code !== "AlreadyAnswered") throw error; // sent again after a lost reply: the same answer
    }
  } else if (can.answersMap) {
    await answer("map", { photo: state.photo, mask: await blobToBase64(await painter.maskBlob()) });
  }
  ui.banner.hidden = true;
  if ((can.photos || can.trial) && state.photo + 1 < photoCount(can)) {
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
