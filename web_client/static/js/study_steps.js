// What a study's step asks of a participant, from its kind (before, after, explore, question),
// task (paint, predict), the simulation trials (forward, counterfactual), and what the participant's condition allows in it (`paint`, `map`: the
// server resolves them per participant): worked out here once for the whole page. Pure (tested in Node).

export function stepCapabilities(step) {
  const question = step.kind === "question";
  const explore = step.kind === "explore";
  // A trial shows its own held-out photos (`step.photos`: how many) as the server draws them, with
  // choices and a confidence scale: no painting, no model's answer.
  const trial = step.kind === "forward" || step.kind === "counterfactual";
  const predicts = !question && !explore && !trial && step.task === "predict";
  // A condition without painting: its explore steps show each photo and the model's answer for it.
  const paints = !question && !trial && !predicts && !(explore && step.paint === false);
  return {
    photos: !question && !trial, // goes through the study's photos, one at a time, on the canvas
    trial, // a simulation trial per photo of its own: choose, then how sure
    photoCount: trial ? step.photos : null, // its own photos' number (null: the study's)
    paints, // the painting tools, and painting on the photo
    explores: explore, // asks the model about each photo, for a suggested time
    classifies: explore && paints, // the Classify button: the model's answer for the painted photo
    answersPlainPhoto: explore && !paints, // the model's answer for the photo itself, shown with it
    showsMap: explore && Boolean(step.map), // may show the model's occlusion map
    predicts, // names the class the model will give each photo
    answersMap: !question && !explore && !trial && !predicts, // each photo's answer is the painted map
    answersEachPhoto: !question && !explore, // ends once every photo has its answer
    asks: question, // a question: on a scale, or in free text
    freeText: question && step.scale === "text",
    scalePoints: question && step.scale !== "text" ? (step.scale === "likert7" ? 7 : 5) : 0,
  };
}

// Where a participant is among the steps they go through (`steps`: theirs, each with its `index`
// in the study's whole list, which events name it by): the step, and "Step k of n" as they count.
export function stepPosition(steps, index) {
  const position = steps.findIndex((s) => s.index === index);
  return { step: position < 0 ? null : steps[position], number: position + 1, of: steps.length };
}
