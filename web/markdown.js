// A small, safe Markdown renderer for model answers.
//
// Model output is untrusted: every piece of it becomes a text node
// (createTextNode / textContent); no HTML in the input is ever parsed, so
// `<script>` or `onerror=` show as the characters they are. Supported: ATX
// headings, paragraphs, fenced code, unordered / ordered lists, block
// quotes, `code`, **bold**, *italic* / _italic_, [text](http(s) links) and
// citation markers [n] (buttons, through the onCitation callback).
"use strict";

const Markdown = (() => {
  // Inline spans of `text` appended to `parent`.
  function inline(parent, text, onCitation) {
    // Order matters: code first (its content is literal), then links,
    // citations, bold, italic. Emphasis neither starts nor ends inside
    // spaces, and underscores not inside words (CommonMark's flanking rules,
    // simplified): "a.__b=1 and c.__d" stays plain.
    const re = /(`+)([^`]+?)\1|\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)|\[(\d{1,3})\]|\*\*([^*\s](?:[^*\n]*[^*\s])?)\*\*|(?<!\w)__([^_\s](?:[^_\n]*[^_\s])?)__(?!\w)|\*([^*\s](?:[^*\n]*[^*\s])?)\*|(?<!\w)_([^_\s](?:[^_\n]*[^_\s])?)_(?!\w)/g;
    let last = 0;
    for (const m of text.matchAll(re)) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      last = m.index + m[0].length;
      if (m[2] !== undefined) {
        const code = document.createElement("code");
        code.textContent = m[2];
        parent.appendChild(code);
      } else if (m[3] !== undefined) {
        const a = document.createElement("a");
        a.href = m[4];  // http(s) only, by the pattern
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        a.textContent = m[3];
        parent.appendChild(a);
      } else if (m[5] !== undefined) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "cite";
        b.dataset.n = m[5];
        b.textContent = "[" + m[5] + "]";
        if (onCitation) b.addEventListener("click", () => onCitation(Number(m[5])));
        parent.appendChild(b);
      } else if (m[6] !== undefined || m[7] !== undefined) {
        const s = document.createElement("strong");
        inline(s, m[6] !== undefined ? m[6] : m[7], onCitation);
        parent.appendChild(s);
      } else {
        const e = document.createElement("em");
        inline(e, m[8] !== undefined ? m[8] : m[9], onCitation);
        parent.appendChild(e);
      }
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // A DocumentFragment for `source`.
  function render(source, onCitation) {
    const out = document.createDocumentFragment();
    const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    let para = [];
    const flush = () => {
      if (para.length === 0) return;
      const p = document.createElement("p");
      inline(p, para.join("\n"), onCitation);
      out.appendChild(p);
      para = [];
    };
    while (i < lines.length) {
      const line = lines[i];
      const fence = line.match(/^\s*(```+|~~~+)\s*([\w+-]*)\s*$/);
      if (fence) {
        flush();
        const body = [];
        i++;
        while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
        i++;  // the closing fence (or the end while streaming)
        const pre = document.createElement("pre");
        const code = document.createElement("code");
        code.textContent = body.join("\n");
        pre.appendChild(code);
        out.appendChild(pre);
        continue;
      }
      const heading = line.match(/^(#{1,6})\s+(.*)$/);
      if (heading) {
        flush();
        const h = document.createElement("h" + Math.min(6, heading[1].length + 2));
        inline(h, heading[2], onCitation);
        out.appendChild(h);
        i++;
        continue;
      }
      const item = line.match(/^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/);
      if (item) {
        flush();
        const ordered = /\d/.test(item[1]);
        const list = document.createElement(ordered ? "ol" : "ul");
        while (i < lines.length) {
          const m = lines[i].match(/^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/);
          if (!m || /\d/.test(m[1]) !== ordered) break;
          const li = document.createElement("li");
          inline(li, m[2], onCitation);
          list.appendChild(li);
          i++;
        }
        out.appendChild(list);
        continue;
      }
      if (/^\s*>/.test(line)) {
        flush();
        const quote = [];
        while (i < lines.length && /^\s*>/.test(lines[i])) quote.push(lines[i++].replace(/^\s*>\s?/, ""));
        const bq = document.createElement("blockquote");
        bq.appendChild(render(quote.join("\n"), onCitation));
        out.appendChild(bq);
        continue;
      }
      if (line.trim() === "") flush();
      else para.push(line);
      i++;
    }
    flush();
    return out;
  }

  return { render, inline };
})();
