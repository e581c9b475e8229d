// Concept checks ({concept-check}, _ext/concept_check.py): the options become buttons; a pick says
// whether it is right, marks the right option and reveals the explanation. No server, no network.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("div.concept-check").forEach((box, n) => {
    const answer = Number(box.dataset.answer);
    const list = box.querySelector(".cc-options ul, .cc-options ol");
    const explanation = box.querySelector(".cc-explanation");
    if (!list || !explanation) return;
    const question = box.querySelector(".cc-question");
    if (question && !question.id) question.id = `cc-question-${n}`;
    if (question) box.setAttribute("aria-labelledby", question.id);
    const feedback = document.createElement("p");
    feedback.className = "cc-feedback";
    feedback.setAttribute("aria-live", "polite");
    explanation.hidden = true;
    explanation.before(feedback);
    const buttons = [];
    Array.from(list.children).forEach((item, i) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cc-option";
      button.setAttribute("aria-pressed", "false");
      const inner = item.querySelector(":scope > p") || item;  // the option's paragraph
      while (inner.firstChild) button.appendChild(inner.firstChild);
      inner.appendChild(button);
      buttons.push(button);
      button.addEventListener("click", () => {
        buttons.forEach((b, j) => {
          b.setAttribute("aria-pressed", String(j === i));
          b.classList.toggle("cc-picked", j === i);
          b.classList.toggle("cc-right", j === answer);
          b.classList.toggle("cc-wrong", j === i && i !== answer);
        });
        feedback.textContent = i === answer ? "Right." : `Not quite: the answer is option ${answer + 1}.`;
        feedback.classList.toggle("cc-feedback-right", i === answer);
        explanation.hidden = false;
      });
    });
  });
});
