// What a study's step asks of a participant, from its kind (before, after, explore, question) and
// task (paint, predict): worked out here once for the whole page. Pure (tested in Node).

export function stepCapabilities(step) {
  const question = step.kind === "question";
  const explore = step.kind === "explore";
  const predicts = !question && !explore && step.task === "predict";
  return {
    photos: !question, // goes through the study's photos, one at a time
    paints: !question && !predicts, // the painting tools
    explores: explore, // asks the model freely about the painted photo, for a suggested time
    showsMap: explore && Boolean(step.map), // may show the model's occlusion map
    predicts, // names the class the model will give each photo
    answersMap: !question && !explore && !predicts, // each photo's answer is the painted map
    answersEachPhoto: !question && !explore, // ends once every photo has its answer
    asks: question, // a question: on a scale, or in free text
    freeText: question && step.scale === "text",
    scalePoints: question && step.scale !== "text" ? (step.scale === "likert7" ? 7 : 5) : 0,
  };
}
