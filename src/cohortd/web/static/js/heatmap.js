// Heatmap behaviour: arrow-key navigation between cells (one tab stop for the grid),
// auto-apply of the switches, and PNG export drawn from the table exactly as shown.
(function () {
  "use strict";
  const table = document.getElementById("heatmap");
  const form = document.getElementById("report-controls");
  if (form) {
    form.querySelectorAll("fieldset.switch input").forEach(function (input) {
      input.addEventListener("change", function () { form.requestSubmit(); });
    });
  }
  if (!table) return;
  const rows = Array.from(table.tBodies[0].rows);
  const grid = rows.map(function (row) { return Array.from(row.querySelectorAll("td.cell")); });
  let current = null;
  function focusCell(r, c) {
    if (r < 0 || r >= grid.length) return;
    const cells = grid[r];
    if (!cells.length) return;
    c = Math.max(0, Math.min(c, cells.length - 1));
    if (current) current.removeAttribute("tabindex");
    current = cells[c];
    current.tabIndex = 0;
    current.focus();
  }
  const first = grid.find(function (cells) { return cells.length; });
  if (first) { first[0].tabIndex = 0; current = first[0]; }
  // One shared tooltip, filled on hover or focus with the cell's texts as the server
  // wrote them (heatmap-details): nothing is computed here.
  const tip = document.getElementById("cell-tip");
  const detailsNode = document.getElementById("heatmap-details");
  const details = detailsNode ? JSON.parse(detailsNode.textContent) : { labels: [], rows: [] };
  function showTip(cell) {
    if (!tip) return;
    const r = rows.indexOf(cell.parentElement);
    const c = grid[r].indexOf(cell);
    const texts = (details.rows[r] || [])[c] || [];
    tip.textContent = "";
    const title = document.createElement("strong");
    const label = cell.parentElement.querySelector("th").textContent.trim();
    title.textContent = label + ", period " + cell.dataset.k + (cell.classList.contains("incomplete") ? " (incomplete)" : "");
    tip.appendChild(title);
    details.labels.forEach(function (name, i) {
      if (!texts[i]) return;
      const line = document.createElement("span");
      line.className = "tip-line";
      const left = document.createElement("span");
      left.textContent = name;
      const right = document.createElement("span");
      right.textContent = texts[i];
      line.appendChild(left);
      line.appendChild(right);
      tip.appendChild(line);
    });
    tip.hidden = false;
    const box = cell.getBoundingClientRect();
    const width = tip.offsetWidth;
    const height = tip.offsetHeight;
    let left = Math.min(box.right - width, window.innerWidth - width - 8);
    left = Math.max(8, left);
    let top = box.bottom + 4;
    if (top + height > window.innerHeight - 8) top = Math.max(8, box.top - height - 4);
    tip.style.left = left + "px";
    tip.style.top = top + "px";
    cell.setAttribute("aria-describedby", "cell-tip");
  }
  function hideTip(cell) {
    if (tip) tip.hidden = true;
    if (cell) cell.removeAttribute("aria-describedby");
  }
  table.addEventListener("mouseover", function (event) {
    const cell = event.target.closest("td.cell");
    if (cell) showTip(cell);
  });
  table.addEventListener("mouseleave", function () { hideTip(null); });
  table.addEventListener("focusin", function (event) {
    const cell = event.target.closest("td.cell");
    if (cell) showTip(cell);
  });
  table.addEventListener("focusout", function (event) {
    const cell = event.target.closest("td.cell");
    if (cell) hideTip(cell);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") hideTip(document.activeElement && document.activeElement.closest ? document.activeElement.closest("td.cell") : null);
  });
  table.addEventListener("click", function (event) {
    // A clicked cell becomes the grid's current cell (arrow keys go on from there).
    const cell = event.target.closest("td.cell");
    if (!cell) return;
    const r = rows.indexOf(cell.parentElement);
    focusCell(r, grid[r].indexOf(cell));
  });
  table.addEventListener("keydown", function (event) {
    const cell = event.target.closest("td.cell");
    if (!cell) return;
    const r = rows.indexOf(cell.parentElement);
    const c = grid[r].indexOf(cell);
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    const move = moves[event.key];
    if (event.key === "Home") { focusCell(r, 0); event.preventDefault(); return; }
    if (event.key === "End") { focusCell(r, grid[r].length - 1); event.preventDefault(); return; }
    if (!move) return;
    event.preventDefault();
    focusCell(r + move[0], c + move[1]);
  });

  function drawPng() {
    // Redraw the table on a canvas with the browser's computed colours: no numbers are
    // computed here, every text is the cell's own.
    const allRows = Array.from(table.rows);
    const widths = [];
    allRows.forEach(function (row) {
      Array.from(row.cells).forEach(function (cell, i) {
        widths[i] = Math.max(widths[i] || 0, Math.ceil(cell.getBoundingClientRect().width));
      });
    });
    const rowHeight = 26;
    const scale = 2;
    const width = widths.reduce(function (a, b) { return a + b; }, 0);
    const height = rowHeight * allRows.length;
    const canvas = document.createElement("canvas");
    canvas.width = width * scale;
    canvas.height = height * scale;
    const ctx = canvas.getContext("2d");
    ctx.scale(scale, scale);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    ctx.textBaseline = "middle";
    allRows.forEach(function (row, r) {
      let x = 0;
      Array.from(row.cells).forEach(function (cell, i) {
        if (!widths[i]) return; // a column hidden at this width is left out of the picture
        const style = getComputedStyle(cell);
        ctx.fillStyle = style.backgroundColor === "rgba(0, 0, 0, 0)" ? "#fff" : style.backgroundColor;
        ctx.fillRect(x, r * rowHeight, widths[i], rowHeight);
        ctx.fillStyle = style.color;
        ctx.font = (style.fontWeight >= 600 ? "bold " : "") + "12px system-ui, sans-serif";
        // A heatmap cell's value is its first text node (the ◔ mark is a span after it).
        let text = (cell.classList.contains("cell") && cell.firstChild ? cell.firstChild.textContent : cell.textContent).trim();
        if (cell.classList.contains("incomplete")) text += " ◔";
        const right = cell.classList.contains("num") || cell.classList.contains("cell");
        ctx.textAlign = right ? "right" : "left";
        ctx.fillText(text, right ? x + widths[i] - 6 : x + 6, r * rowHeight + rowHeight / 2);
        x += widths[i];
      });
    });
    return canvas;
  }
  const button = document.getElementById("download-png");
  if (button) {
    button.addEventListener("click", function () {
      const link = document.createElement("a");
      link.download = "cohort-retention.png";
      link.href = drawPng().toDataURL("image/png");
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
  }
})();
