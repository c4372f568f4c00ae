// What tests/notebooks/test_browser.py measures in the open notebook (run with execute_script).
//
// For each output of the notebook panel (one .jp-OutputArea-output per output):
// the output itself and every element in it that has a box (clientWidth > 0)
// must not be wider inside than it is (scrollWidth <= clientWidth): an element
// that is would need horizontal scrolling, or spill over its neighbours.
// For each explanation cell (.chatlab-explanation), its width in characters of
// its own font (an English sentence's average character, from a canvas).
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
const outputs = panel ? Array.from(panel.querySelectorAll('.jp-OutputArea-output')) : [];
const cells = panel ? Array.from(panel.querySelectorAll('.jp-Cell')) : [];
const canvas = document.createElement('canvas').getContext('2d');
const SAMPLE = 'the sender waits for the acknowledgement of its data';

function excerpt(el) {
  return (el.innerText || el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 90);
}

const overflowing = [];
outputs.forEach((out) => {
  const cell = cells.findIndex((c) => c.contains(out));
  for (const el of [out, ...out.querySelectorAll('*')]) {
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth) {
      overflowing.push({cell, tag: el.tagName.toLowerCase(), scroll: el.scrollWidth,
                        client: el.clientWidth, text: excerpt(out)});
      break;   // one report per output: the outermost element that overflows
    }
  }
});

const explanations = Array.from(panel ? panel.querySelectorAll('.chatlab-explanation') : []).map((el) => {
  const style = getComputedStyle(el);
  canvas.font = style.font;
  const perChar = canvas.measureText(SAMPLE).width / SAMPLE.length;
  const inner = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const view = el.closest('.chatlab-view');
  return {chars: Math.floor(inner / perChar), px: inner,
          view: view ? view.className : '', text: excerpt(el).slice(0, 60),
          cell: cells.findIndex((c) => c.contains(el))};
});

const tables = Array.from(panel ? panel.querySelectorAll('.chatlab-table') : []);
const images = Array.from(panel ? panel.querySelectorAll('.jp-OutputArea-output img') : []);
const tab = document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel');
return {
  notebook: tab ? tab.textContent : '',   // the name of the notebook in front
  innerWidth: window.innerWidth,
  column: outputs.length ? Math.max(...outputs.map((o) => o.clientWidth)) : 0,
  outputs: outputs.length,
  views: panel ? panel.querySelectorAll('.chatlab-view').length : 0,
  // JupyterLab's style sheet says table-layout: fixed; "auto" here means our inline styles survived
  // the sanitizer of an untrusted notebook.
  fixedTables: tables.filter((t) => getComputedStyle(t).tableLayout !== 'auto').length,
  imagesLoading: images.filter((i) => !i.complete).length,
  fontsLoaded: document.fonts.status === 'loaded',
  overflowing,
  explanations,
};
