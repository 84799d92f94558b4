"""`papers export 01`: turn a paper's article.md into one Medium-ready HTML file.

Medium renders neither LaTeX nor tables, and it cannot see files on your disk. So the export:

- renders every formula (`$...$` inline, `$$...$$` display) to a PNG with matplotlib's mathtext:
  offline, no TeX install. Code spans and code blocks are left alone, and `\\$` stays a dollar;
- renders every Markdown table to a PNG;
- rewrites local figure paths (and links to other files of the repo) to absolute URLs;
- keeps code blocks as `<pre><code>`, which Medium turns into code blocks on paste or import.

Images are written next to the HTML (`<out>/images/<hash>.png`, the name a hash of the content, so a
re-export is byte-identical) and referenced by absolute URL under the base URL, the address where
the repo (or the export folder) is published. Publish, then use Medium's "Import a story" on the
HTML's address or paste the page opened in a browser.

Base URL, first found: `--base-url`, the environment variable PAPERS_EXPORT_BASE_URL, or
`[tool.papers.export] base-url` in the root pyproject.toml.

`--out` may be any folder. Outside the repo, the rendered images get `--images-url` (where
`<out>/images/` will be published) or, without it, file:// URLs: a local preview. The export is
written to a staging folder beside `<out>` and moved into place only once it is complete, so a
failure leaves no partial output (and an earlier export in `<out>` untouched).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import io
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_DIR = "images"
PLACEHOLDER = "ZZMATH{}ZZ"  # letters and digits only: Markdown parsing leaves it untouched
PLACEHOLDER_RE = re.compile(r"ZZMATH(\d+)ZZ")


def _error(message: str) -> Exception:
    from papers_cli.__main__ import PapersError

    return PapersError(message)


# ---------------------------------------------------------------------------------------------
# Finding maths in Markdown (outside code)
# ---------------------------------------------------------------------------------------------

FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _split_code_fences(text: str) -> list[tuple[bool, str]]:
    """Split text into (is_code, chunk) pieces; fenced code blocks are code."""
    pieces: list[tuple[bool, str]] = []
    current: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        match = FENCE_RE.match(line)
        if fence is None and match:
            if current:
                pieces.append((False, "".join(current)))
            current, fence = [line], match.group(1)
        elif fence is not None and match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                and line.strip() == match.group(1):
            current.append(line)
            pieces.append((True, "".join(current)))
            current, fence = [], None
        else:
            current.append(line)
    if current:
        pieces.append((fence is not None, "".join(current)))
    return pieces


CODE_SPAN_RE = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
DISPLAY_RE = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$", re.S)
# Pandoc's rule for inline maths: the opening $ has a non-space right after it, the closing $ a
# non-space right before it and no digit right after it ("costs $5 and $10" is not maths).
INLINE_RE = re.compile(r"(?<![\\$])\$(?=[^\s$])(.+?)(?<=[^\s\\])\$(?![\d$])")


@dataclass
class Formula:
    latex: str
    display: bool


@dataclass
class Extraction:
    text: str
    formulas: list[Formula] = field(default_factory=list)


def extract_maths(markdown: str) -> Extraction:
    """Replace every formula outside code with a placeholder; return the text and the formulas."""
    formulas: list[Formula] = []

    def stash(latex: str, display: bool) -> str:
        formulas.append(Formula(latex.strip(), display))
        return PLACEHOLDER.format(len(formulas) - 1)

    out = []
    for is_code, chunk in _split_code_fences(markdown):
        if is_code:
            out.append(chunk)
            continue
        # Protect code spans, then take display maths before inline maths.
        spans = [m.group(0) for m in CODE_SPAN_RE.finditer(chunk)]
        numbers = iter(range(len(spans)))
        chunk = CODE_SPAN_RE.sub(lambda _, numbers=numbers: f"ZZCODE{next(numbers)}ZZ", chunk)
        chunk = DISPLAY_RE.sub(lambda m: stash(m.group(1), True), chunk)
        chunk = INLINE_RE.sub(lambda m: stash(m.group(1), False), chunk)
        chunk = re.sub(r"ZZCODE(\d+)ZZ", lambda m, spans=spans: spans[int(m.group(1))], chunk)
        out.append(chunk)
    return Extraction("".join(out), formulas)


# ---------------------------------------------------------------------------------------------
# Rendering formulas and tables to PNG with matplotlib (imported lazily: it is slow to import)
# ---------------------------------------------------------------------------------------------

# LaTeX that GitHub's MathJax accepts but mathtext does not, rewritten to what mathtext knows.
_ENVIRONMENT_RE = re.compile(r"\\(?:begin|end)\{(?:aligned|align\*?|gathered|split|equation\*?)\}")


def _braced(latex: str, start: int) -> int:
    """Index just past the brace group that opens at latex[start] == '{'."""
    depth = 0
    for i in range(start, len(latex)):
        if latex[i] == "{":
            depth += 1
        elif latex[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    raise _error(f"unbalanced braces in formula {latex!r}")


def to_mathtext(latex: str) -> list[str]:
    """GitHub-flavoured LaTeX -> mathtext lines (display maths may hold several lines split by \\\\)."""
    s = _ENVIRONMENT_RE.sub("", latex)
    # \text{a b} and \operatorname{f}: upright text; mathtext drops plain spaces inside \mathrm.
    for command in (r"\text", r"\textrm", r"\operatorname", r"\mathrm"):
        out, i = [], 0
        while (j := s.find(command + "{", i)) != -1:
            if s[j + len(command)].isalpha():  # e.g. \textbf is not \text
                out.append(s[i: j + len(command)])
                i = j + len(command)
                continue
            end = _braced(s, j + len(command))
            body = re.sub(r"(?<!\\) ", r"\\ ", s[j + len(command) + 1: end - 1])
            out.append(s[i:j] + r"\mathrm{" + body + "}")
            i = end
        s = "".join(out) + s[i:]
    replacements = {r"\tfrac": r"\frac", r"\textbf": r"\mathbf", r"\lVert": r"\Vert", r"\rVert": r"\Vert",
                    r"\dots": r"\ldots", r"\le ": r"\leq ", r"\ge ": r"\geq ", r"\bigl": "", r"\bigr": "",
                    r"\Bigl": "", r"\Bigr": ""}
    for old, new in replacements.items():
        s = s.replace(old, new)
    lines = [line.replace("&", " ").strip() for line in re.split(r"\\\\", s)]
    return [line for line in lines if line]


def _png_bytes(figure_writer) -> bytes:
    buffer = io.BytesIO()
    figure_writer(buffer)
    return buffer.getvalue()


def render_formula(latex: str, display: bool) -> bytes:
    """PNG bytes of one formula; raises PapersError naming the formula if mathtext cannot parse it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import math_to_image
    from PIL import Image

    size = 15 if display else 12
    images = []
    for line in to_mathtext(latex):
        try:
            with matplotlib.rc_context({"mathtext.fontset": "cm"}):  # Computer Modern: looks like LaTeX
                data = _png_bytes(lambda buf, line=line: math_to_image(
                    f"${line}$", buf, prop=FontProperties(size=size), dpi=200, format="png"))
        except ValueError as e:
            reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise _error(f"cannot render formula ${' '.join(latex.split())}$: {reason}") from None
        images.append(Image.open(io.BytesIO(data)).convert("RGBA"))
    if not images:
        raise _error(f"empty formula ${latex}$")
    if len(images) == 1:
        return _save_png(images[0])
    gap = 12
    width = max(im.width for im in images)
    height = sum(im.height for im in images) + gap * (len(images) - 1)
    stacked = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    y = 0
    for im in images:  # centre each line, as a display equation is centred
        stacked.paste(im, ((width - im.width) // 2, y))
        y += im.height + gap
    return _save_png(stacked)


def _save_png(image) -> bytes:
    from PIL import Image

    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    background.alpha_composite(image)  # Medium's dark mode shows transparency badly: use white
    buffer = io.BytesIO()
    background.convert("RGB").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def render_table(header: list[str], rows: list[list[str]]) -> bytes:
    """PNG bytes of a table; cells are plain text in which `$...$` is mathtext."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    n_cols = len(header)
    rows = [row + [""] * (n_cols - len(row)) for row in rows]
    widths = [max(len(_visible(r[c])) for r in [header, *rows]) for c in range(n_cols)]
    fig_width = min(12.0, 0.3 + 0.085 * sum(w + 3 for w in widths))
    fig = plt.figure(figsize=(fig_width, 0.3 * (len(rows) + 1)), dpi=200)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis("off")
    table = ax.table(cellText=rows or None, colLabels=header, loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.auto_set_column_width(list(range(n_cols)))
    for (row, _col), cell in table.get_celld().items():
        cell.PAD = 0.04  # the default pads by 10% of the column width: too much for wide columns
        cell.set_edgecolor("#bbbbbb")
        cell.get_text().set_horizontalalignment("left")
        cell.set_height(0.28 / (0.3 * (len(rows) + 1)))
        if row == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#eeeeee")
    try:
        data = _png_bytes(lambda buf: fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.05,
                                                  facecolor="white", metadata={"Software": None}))
    except ValueError as e:
        raise _error(f"cannot render table with header {header}: {str(e).strip().splitlines()[-1]}") from None
    finally:
        plt.close(fig)
    return _save_png(Image.open(io.BytesIO(data)).convert("RGBA"))


def _visible(cell: str) -> str:
    return re.sub(r"\$[^$]*\$", "xxxxxx", cell)


# ---------------------------------------------------------------------------------------------
# The export itself
# ---------------------------------------------------------------------------------------------


@dataclass
class Exporter:
    article: Path
    out_dir: Path
    base_url: str
    repo_root: Path
    link_base: str | None = None
    images_url: str | None = None  # where out_dir/images/ is published; see images_base()
    saved: dict[str, Path] = field(default_factory=dict)  # URL -> file, for the images this export made
    staging: Path | None = None  # the folder being written; moved to out_dir only once all is well

    def url_for(self, path: Path) -> str:
        try:
            relative = path.resolve().relative_to(self.repo_root.resolve())
        except ValueError:
            raise _error(f"{path} is outside the repo {self.repo_root}; cannot give it a URL") from None
        return f"{self.base_url.rstrip('/')}/{relative.as_posix()}"

    def images_base(self) -> str:
        """The URL of out_dir/images/: --images-url if given; else under the base URL when out_dir is in
        the repo; else a file:// URL, which previews in a browser but must be published for Medium."""
        if self.images_url:
            return self.images_url.rstrip("/")
        out = self.out_dir.resolve()
        if out.is_relative_to(self.repo_root.resolve()):
            return self.url_for(out / IMAGE_DIR)
        return (out / IMAGE_DIR).as_uri()

    def save_image(self, data: bytes, kind: str) -> str:
        assert self.staging is not None, "save_image is called from run()"
        name = f"{kind}-{hashlib.sha256(data).hexdigest()[:16]}.png"
        path = self.staging / IMAGE_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        url = f"{self.images_base()}/{name}"
        self.saved[url] = path
        return url

    def run(self) -> Path:
        """Export into a staging folder beside out_dir, then move the result into place: a failure
        (a missing figure, a formula mathtext cannot draw) leaves out_dir as it was, and no new folder."""
        import secrets
        import shutil

        if not self.article.is_file():
            raise _error(f"no article at {self.article}")
        out = self.out_dir = self.out_dir.resolve()
        if out.exists() and not out.is_dir():
            raise _error(f"--out {out} exists and is not a folder")
        created = [folder for folder in [out.parent, *out.parent.parents] if not folder.exists()]
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            staging = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
            staging.mkdir()  # not tempfile.mkdtemp: its mode 0700 would become the export folder's
            self.staging = staging
            document = self.render()
            (self.staging / "article.html").write_text(document, encoding="utf-8")
            self.check(document)
            if not out.exists():
                os.replace(self.staging, out)
            else:  # keep what else the folder holds; the HTML goes last, once its images are there
                for image in sorted((self.staging / IMAGE_DIR).glob("*.png")):
                    (out / IMAGE_DIR).mkdir(exist_ok=True)
                    os.replace(image, out / IMAGE_DIR / image.name)
                os.replace(self.staging / "article.html", out / "article.html")
        except BaseException:
            if created:  # the parent folders this export made, and so all inside them
                shutil.rmtree(created[-1], ignore_errors=True)
            raise
        finally:
            if self.staging is not None and self.staging.exists():
                shutil.rmtree(self.staging, ignore_errors=True)
        return out / "article.html"

    def render(self) -> str:
        """The HTML document; its images are written to the staging folder."""
        from markdown_it import MarkdownIt
        from markdown_it.token import Token

        extraction = extract_maths(self.article.read_text(encoding="utf-8"))
        formulas = extraction.formulas
        md = MarkdownIt("commonmark", {"html": True}).enable("table")
        tokens = md.parse(extraction.text)

        # Tables -> one image each (formulas inside cells are drawn by the table's own mathtext).
        out_tokens: list[Token] = []
        i = 0
        while i < len(tokens):
            if tokens[i].type != "table_open":
                out_tokens.append(tokens[i])
                i += 1
                continue
            table_rows: list[list[str]] = []
            while tokens[i].type != "table_close":
                if tokens[i].type == "tr_open":
                    table_rows.append([])
                elif tokens[i].type == "inline":
                    table_rows[-1].append(self.cell_text(tokens[i], formulas))
                i += 1
            header, rows = table_rows[0], table_rows[1:]
            url = self.save_image(render_table(header, rows), "table")
            alt = html.escape(" | ".join(_plain(c) for c in header), quote=True)
            block = Token("html_block", "", 0)
            block.content = f'<figure><img src="{url}" alt="Table: {alt}"></figure>\n'
            out_tokens.append(block)
            i += 1

        # Figures and links: local paths -> absolute URLs; missing files are errors.
        for token in out_tokens:
            for child in token.children or []:
                if child.type == "image":
                    child.attrSet("src", self.local_url(child.attrGet("src") or "", image=True))
                elif child.type == "link_open":
                    child.attrSet("href", self.local_url(child.attrGet("href") or "", image=False))
            raw = [token.content] + [c.content for c in token.children or [] if c.type == "html_inline"]
            sources = [m.group(1) for r in raw for m in re.finditer(r"<img\s[^>]*src=[\"']?([^\"'\s>]*)", r)]
            if any(not re.match(r"https?://", src) and src not in self.saved for src in sources):
                raise _error(f"{self.article.name}: raw HTML <img> with a local path; use ![alt](path)")

        body = md.renderer.render(out_tokens, md.options, {})
        body = self.replace_formulas(body, formulas)
        title = next((tokens[k + 1].content for k, t in enumerate(tokens) if t.type == "heading_open"), "Article")
        title = _plain(PLACEHOLDER_RE.sub(lambda m: formulas[int(m.group(1))].latex, title))
        document = (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n"
            "<style>body{max-width:700px;margin:2em auto;font:18px/1.6 Georgia,serif;padding:0 1em}"
            "pre{background:#f4f4f4;padding:1em;overflow-x:auto;font-size:14px}"
            "img.math-inline{vertical-align:middle}figure{text-align:center;margin:1.5em 0}"
            "figure img{max-width:100%}</style>\n</head>\n<body>\n"
            f"<!-- exported from {self.article.relative_to(self.repo_root).as_posix()} by `papers export` -->\n"
            f"{body}</body>\n</html>\n"
        )
        return document

    def cell_text(self, inline, formulas: list[Formula]) -> str:
        parts = []
        for child in inline.children or []:
            if child.type in ("text", "code_inline"):
                text = child.content.replace("$", r"\$")
                parts.append(PLACEHOLDER_RE.sub(
                    lambda m: "$" + " ".join(to_mathtext(formulas[int(m.group(1))].latex)) + "$", text))
            elif child.type in ("softbreak", "hardbreak"):
                parts.append(" ")
        return "".join(parts).strip()

    def local_url(self, target: str, image: bool) -> str:
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            return target
        path_part, _, fragment = target.partition("#")
        path = (self.article.parent / path_part).resolve()
        if not path.exists():
            kind = "figure" if image else "link target"
            raise _error(f"{self.article.name}: {kind} {target!r} not found at {path}")
        if image:
            return self.url_for(path)
        link_base = (self.link_base or self.base_url).rstrip("/")
        relative = path.relative_to(self.repo_root.resolve()).as_posix()
        return f"{link_base}/{relative}" + (f"#{fragment}" if fragment else "")

    def replace_formulas(self, body: str, formulas: list[Formula]) -> str:
        urls: dict[int, str] = {}

        def image(m: re.Match) -> str:
            k = int(m.group(1))
            formula = formulas[k]
            if k not in urls:
                png = render_formula(formula.latex, formula.display)
                # Rendered at 200 dpi; shown at about the size of the 18px body text.
                urls[k] = f'src="{self.save_image(png, "math")}" width="{round(_png_width(png) * 0.5)}"'
            alt = html.escape(formula.latex, quote=True)
            css = "math-display" if formula.display else "math-inline"
            return f'<img class="{css}" {urls[k]} alt="{alt}">'

        # A display formula alone in its paragraph becomes a centred figure.
        body = re.sub(r"<p>\s*ZZMATH(\d+)ZZ\s*</p>",
                      lambda m: f"<figure>{image(m)}</figure>" if formulas[int(m.group(1))].display else m.group(0),
                      body)
        return PLACEHOLDER_RE.sub(image, body)

    def check(self, document: str) -> None:
        """The export's promises, checked on its own output."""
        outside_code = re.sub(r"<pre>.*?</pre>|<code>.*?</code>", "", document, flags=re.S)
        if PLACEHOLDER_RE.search(outside_code) or re.search(r"<table", outside_code):
            raise _error(f"{self.article.name}: internal error: unrendered maths or table left in the HTML")
        base = self.base_url.rstrip("/") + "/"
        for src in re.findall(r"<img [^>]*src=\"([^\"]+)\"", document):
            if src in self.saved:
                if not self.saved[src].is_file():
                    raise _error(f"{self.article.name}: internal error: image {src} was not written")
            elif src.startswith(base):
                local = self.repo_root / src[len(base):]
                if not local.is_file():
                    raise _error(f"{self.article.name}: image {src} has no file at {local}")
            elif not re.match(r"https?://", src):
                raise _error(f"{self.article.name}: image {src!r} is not an absolute URL")


def _png_width(png: bytes) -> int:
    return int.from_bytes(png[16:20], "big")  # the IHDR chunk's width field


def _plain(text: str) -> str:
    return re.sub(r"[*_`]", "", text)


def export_article(article: Path, out_dir: Path, base_url: str, repo_root: Path,
                   link_base: str | None = None, images_url: str | None = None) -> Path:
    """Export one article.md to out_dir/article.html (+ out_dir/images/); return the HTML's path."""
    return Exporter(Path(article), Path(out_dir), base_url, Path(repo_root), link_base, images_url).run()


def configured_urls(root: Path) -> tuple[str | None, str | None]:
    pyproject = root / "pyproject.toml"
    settings = tomllib.loads(pyproject.read_text()).get("tool", {}).get("papers", {}).get("export", {})
    return settings.get("base-url"), settings.get("link-base")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paper", help="paper number (01) or folder name")
    parser.add_argument("--base-url", help="where the repo's files are served (default: PAPERS_EXPORT_BASE_URL, "
                                           "then [tool.papers.export] base-url in pyproject.toml)")
    parser.add_argument("--link-base", help="where links to other repo files point (default: link-base setting)")
    parser.add_argument("--out", type=Path, help="output folder, anywhere (default: papers/<paper>/export)")
    parser.add_argument("--images-url", help="where <out>/images/ is published (default: under the base URL when "
                                             "<out> is in the repo, else a file:// URL, for a local preview)")


def run(args: argparse.Namespace) -> int:
    from papers_cli.repo import find_paper, repo_root

    root = repo_root()
    paper = find_paper(args.paper)
    base_setting, link_setting = configured_urls(root)
    base_url = args.base_url or os.environ.get("PAPERS_EXPORT_BASE_URL") or base_setting
    if not base_url:
        raise _error("no base URL: pass --base-url or set [tool.papers.export] base-url in pyproject.toml")
    if not re.match(r"https?://", base_url):
        raise _error(f"--base-url must start with http:// or https://, got {base_url!r}")
    if args.images_url and not re.match(r"https?://", args.images_url):
        raise _error(f"--images-url must start with http:// or https://, got {args.images_url!r}")
    out = (args.out or paper.folder / "export").resolve()
    try:
        target = export_article(paper.folder / "article.md", out, base_url, root, args.link_base or link_setting,
                                args.images_url)
    except OSError as e:
        raise _error(f"cannot write the export to {out}: {e.strerror or e}") from None
    if args.images_url:
        where = f"publish {out / IMAGE_DIR} at {args.images_url}"
    elif out.is_relative_to(root):
        where = f"publish {out.relative_to(root)} under {base_url}"
    else:
        where = (f"its images have file:// URLs (a local preview): publish {out / IMAGE_DIR} and rerun with "
                 "--images-url URL")
    shown = target.relative_to(root) if target.is_relative_to(root) else target
    print(f"wrote {shown} and its images; {where} before importing into Medium")
    return 0
