"""The ``{concept-check}`` directive: a multiple-choice self-check that works on the static website.

The question, the options and the explanation are rendered by Sphinx like any other text (math,
roles, references); a small script (``_static/concept_check.js``) turns the options into buttons,
says whether the reader's pick is right, marks the right one and reveals the explanation. Nothing is
fetched from a server. Without JavaScript the explanation is simply shown after the options. The PDF
numbers the options and states the answer before the explanation; its student edition
(``book_edition = "student"``, ``_ext/book_pdf.py``) leaves the explanation out. The format is read
by ``scratchbook.book.parse_concept_check``, which also gives the kernel's widgets
(``scratchbook.book.concept_checks``), so the site and the kernel ask the same thing.
"""

from __future__ import annotations

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

from scratchbook.book import parse_concept_check


class concept_check_node(nodes.General, nodes.Element):
    """One check: the question, the options (a bullet list) and the explanation."""


class ConceptCheck(SphinxDirective):
    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {"answer": str, "label": str}

    def run(self):
        body = [f":{k}: {v}" for k, v in self.options.items()] + list(self.content)
        try:
            check = parse_concept_check(self.arguments[0], "\n".join(body))
        except ValueError as error:
            raise self.error(str(error)) from error
        node = concept_check_node(answer=check["answer"], n_options=len(check["options"]))
        node["classes"].append("concept-check")
        if check["label"]:
            node["ids"].append(nodes.make_id(check["label"]))
        self.set_source_info(node)

        question = nodes.container(classes=["cc-question"])
        self.state.nested_parse(StringList([check["question"]]), self.content_offset, question)
        options = nodes.container(classes=["cc-options"])
        self.state.nested_parse(StringList([f"- {o}" for o in check["options"]]), self.content_offset, options)
        explanation = nodes.container(classes=["cc-explanation"])
        self.state.nested_parse(StringList(check["explanation"].splitlines()), self.content_offset, explanation)
        node += [question, options, explanation]
        return [node]


class ConceptCheckPrint(SphinxPostTransform):
    """In LaTeX: numbered options, then the answer and its explanation (instructor) or nothing (student)."""

    default_priority = 500
    formats = ("latex",)

    def run(self, **kwargs) -> None:
        student = getattr(self.config, "book_edition", "instructor") == "student"
        for check in list(self.document.findall(concept_check_node)):
            for bullets in list(check.findall(nodes.bullet_list)):
                numbered = nodes.enumerated_list(enumtype="arabic", prefix="", suffix=".")
                numbered += bullets.children
                bullets.replace_self(numbered)
            for explanation in list(check.findall(nodes.container)):
                if "cc-explanation" not in explanation["classes"]:
                    continue
                if student:
                    explanation.parent.remove(explanation)
                else:
                    answer = nodes.paragraph(text=f"Answer: option {check['answer'] + 1}.")
                    explanation.insert(0, answer)


def _visit_html(self, node):
    self.body.append(
        self.starttag(node, "div", CLASS="concept-check", **{"data-answer": str(node["answer"]), "role": "group"})
    )


def _depart_html(self, node):
    self.body.append("</div>\n")


def _skip(self, node):
    pass


def setup(app):
    app.add_node(
        concept_check_node,
        html=(_visit_html, _depart_html),
        latex=(_skip, _skip),
        text=(_skip, _skip),
        man=(_skip, _skip),
        texinfo=(_skip, _skip),
    )
    app.add_directive("concept-check", ConceptCheck)
    app.add_post_transform(ConceptCheckPrint)
    app.add_js_file("concept_check.js")
    app.add_css_file("concept_check.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
