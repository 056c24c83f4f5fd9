// The favicon carries the unread total, like the tab title: favicon.svg with a red badge and
// the count, drawn on a canvas and set as a PNG data URL (the CSP allows data: images).
const BASE = '/static/favicon.svg';
const SIZE = 64;
const BADGE = '#c92a2a'; // white digits on it: 5.4:1

let base = null; // the plain icon, decoded once
let wanted = 0; // the newest count asked for: a slow draw for an older one gives way

/** The page's icon link. */
function iconLink() {
  return document.querySelector('link[rel="icon"]');
}

/** favicon.svg as an image of SIZE x SIZE (it has only a viewBox, so give it a size first). */
async function loadBase() {
  const text = await (await fetch(BASE)).text();
  const sized = text.replace('<svg ', `<svg width="${SIZE}" height="${SIZE}" `);
  const image = new Image();
  image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(sized)}`;
  await image.decode();
  return image;
}

/** "7", "42", "99+". */
function badgeText(count) {
  return count > 99 ? '99+' : String(count);
}

/** The icon with a badge in its top right corner. */
function drawBadged(count) {
  const canvas = document.createElement('canvas');
  canvas.width = SIZE;
  canvas.height = SIZE;
  const g = canvas.getContext('2d');
  g.drawImage(base, 0, 0, SIZE, SIZE);
  const text = badgeText(count);
  g.font = `bold ${text.length > 2 ? 26 : 34}px system-ui, sans-serif`;
  const height = 40;
  const width = Math.min(SIZE, Math.max(height, g.measureText(text).width + 14));
  const x = SIZE - width;
  g.fillStyle = BADGE;
  g.beginPath();
  g.roundRect(x, 0, width, height, height / 2);
  g.fill();
  g.fillStyle = '#ffffff';
  g.textAlign = 'center';
  g.textBaseline = 'middle';
  g.fillText(text, x + width / 2, height / 2 + 2);
  return canvas.toDataURL('image/png');
}

/** Show `count` unread messages on the favicon (0: the plain icon). */
export async function showFaviconCount(count) {
  wanted = count;
  const link = iconLink();
  if (!link) return;
  if (!count) {
    link.type = 'image/svg+xml';
    link.href = BASE;
    delete link.dataset.count;
    return;
  }
  try {
    base = base || (await loadBase());
  } catch {
    return; // the server is away: the title still carries the count
  }
  if (wanted !== count) return;
  link.type = 'image/png';
  link.href = drawBadged(count);
  link.dataset.count = badgeText(count);
}
