// Message content as Markdown the way chat people write it, built as DOM nodes: markdown-it
// (vendored, see markdown-it.LICENSE.txt) parses the text into tokens, and this module turns
// the tokens into elements from a short list, with user text only ever set as text. No HTML
// string is ever produced or parsed, so raw HTML in a message stays characters on the screen.
import MarkdownIt from './markdown-it.esm.min.js';
import { state } from './state.js';

const md = new MarkdownIt('default', { html: false, linkify: true });
// Chat, not documents: "# 1" is not a title, "---" under a line is not one either, tables
// need too much care to type, and pictures from elsewhere are refused by the CSP anyway.
md.disable(['heading', 'lheading', 'table', 'image']);
// linkify-it 6 finds only links with a scheme unless asked; www. links need the fuzzy mode
// (bare "example.com" is found too: the walker below shows those as text, see autoLinkText).
md.linkify.set({ fuzzyLink: true, fuzzyEmail: true });
md.validateLink = (url) => safeHref(url) !== null;

const SCHEMES = new Set(['http:', 'https:', 'mailto:']);
// Elements a token may become; anything else becomes a span (its text is kept).
const TAGS = new Set(['p', 'blockquote', 'ul', 'ol', 'li', 'strong', 'em', 's', 'a']);
const WORD_CHAR = /[\p{L}\p{N}_]/u;

/** The URL as a link target if it is http(s) or mailto, else null. */
export function safeHref(url) {
  try {
    const parsed = new URL(url.trim());
    return SCHEMES.has(parsed.protocol) ? parsed.href : null;
  } catch {
    return null; // relative or malformed: not a link
  }
}

/**
 * A message's content as a DocumentFragment: Markdown rendered, links safe and opening in a
 * new tab, and `@Name` of each mentioned user (ids from the server) marked.
 */
export function renderContent(text, mentionIds = []) {
  const fragment = document.createDocumentFragment();
  const mentions = mentionIds
    .map((id) => ({ id, name: state.users.get(id)?.name }))
    .filter((m) => m.name)
    .sort((a, b) => b.name.length - a.name.length); // the longest name that fits first
  const stack = [fragment];
  for (const token of md.parse(text, {})) {
    const parent = stack.at(-1);
    if (token.type === 'inline') {
      appendInline(parent, token.children || [], mentions);
    } else if (token.type === 'fence' || token.type === 'code_block') {
      const pre = document.createElement('pre');
      const code = document.createElement('code');
      code.textContent = token.content.replace(/\n$/, '');
      pre.append(code);
      parent.append(pre);
    } else if (token.type === 'hr') {
      parent.append(document.createElement('hr'));
    } else if (token.nesting === 1) {
      // The paragraphs of a tight list are hidden: their text goes straight into the item.
      const node = token.hidden ? parent : element(token);
      if (node !== parent) parent.append(node);
      stack.push(node);
    } else if (token.nesting === -1) {
      stack.pop();
    }
  }
  return fragment;
}

/** The element for an opening block token (tag from the allowed list only). */
function element(token) {
  const node = document.createElement(TAGS.has(token.tag) ? token.tag : 'div');
  const start = token.tag === 'ol' ? Number(token.attrGet('start')) : NaN;
  if (Number.isInteger(start) && start > 1) node.start = start;
  return node;
}

/** Inline tokens (text, emphasis, code, links, line breaks) appended to `parent`. */
function appendInline(parent, tokens, mentions) {
  const stack = [parent];
  tokens.forEach((token, i) => {
    const into = stack.at(-1);
    if (token.type === 'text') {
      appendText(into, token.content, mentions);
    } else if (token.type === 'code_inline') {
      const code = document.createElement('code');
      code.textContent = token.content;
      into.append(code);
    } else if (token.type === 'softbreak' || token.type === 'hardbreak') {
      into.append('\n'); // shown as a line break (pre-wrap), and kept in copied text
    } else if (token.type === 'link_open') {
      const node = link(token, tokens[i + 1]);
      into.append(node);
      stack.push(node);
    } else if (token.nesting === 1) {
      const node = document.createElement(TAGS.has(token.tag) ? token.tag : 'span');
      into.append(node);
      stack.push(node);
    } else if (token.nesting === -1) {
      if (stack.length > 1) stack.pop();
    } else if (token.content) {
      appendText(into, token.content, mentions); // anything else: its text, as text
    }
  });
}

/** A link that opens safely in a new tab, or a plain span when it should not be a link. */
function link(token, next) {
  const href = safeHref(token.attrGet('href') || '');
  const auto = token.markup === 'linkify';
  if (!href || (auto && next && !autoLinkText(next.content))) {
    return document.createElement('span');
  }
  const a = document.createElement('a');
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}

/** Which found-in-text links become links: with a scheme, starting www., or an email. */
function autoLinkText(text) {
  return /^(https?:\/\/|mailto:|www\.)/i.test(text) || /^[^\s@]+@[^\s@]+$/.test(text);
}

/** Text, with `@Name` of a mentioned user wrapped in a highlighted span. */
function appendText(parent, text, mentions) {
  let last = 0;
  for (let at = text.indexOf('@'); at !== -1 && mentions.length; at = text.indexOf('@', at + 1)) {
    const mention = mentionAt(text, at + 1, mentions);
    if (!mention) continue;
    parent.append(text.slice(last, at));
    const span = document.createElement('span');
    span.className = mention.id === state.me?.id ? 'mention mention-me' : 'mention';
    span.textContent = text.slice(at, at + 1 + mention.name.length);
    span.dataset.userId = mention.id;
    parent.append(span);
    last = at + 1 + mention.name.length;
    at = last - 1;
  }
  parent.append(text.slice(last));
}

/** The mentioned user whose name starts at `index` and ends where a word does, or null. */
function mentionAt(text, index, mentions) {
  for (const mention of mentions) {
    const candidate = text.slice(index, index + mention.name.length);
    const after = text.charAt(index + mention.name.length);
    if (candidate.toLowerCase() === mention.name.toLowerCase() && !WORD_CHAR.test(after)) {
      return mention;
    }
  }
  return null;
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const PICTOGRAPH = /\p{Extended_Pictographic}|\p{Regional_Indicator}/u;
const EMOJI_PARTS = /^[\p{Extended_Pictographic}\p{Emoji_Component}\u200d\ufe0f\u20e3]+$/u;

/** True for a message of 1 to 3 emoji and nothing else (spaces aside): shown larger. */
export function isEmojiOnly(text) {
  let count = 0;
  for (const { segment } of segmenter.segment(text.trim())) {
    if (/^\s+$/.test(segment)) continue;
    if (!PICTOGRAPH.test(segment) || !EMOJI_PARTS.test(segment)) return false;
    count += 1;
    if (count > 3) return false;
  }
  return count > 0;
}
