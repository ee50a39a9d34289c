// Tiny i18n for staff pages: each page passes its own message table
// {vi:{key:text}, en:{key:text}}; Vietnamese is the default, the choice is
// remembered in localStorage. Elements with data-i18n="key" are filled in.
export function lang() {
  return localStorage.getItem('communehub.lang') === 'en' ? 'en' : 'vi';
}

export function setLang(l) {
  localStorage.setItem('communehub.lang', l === 'en' ? 'en' : 'vi');
}

export function translator(table) {
  const t = (key, vars = {}) => {
    const s = (table[lang()] && table[lang()][key]) ?? table.vi[key] ?? key;
    return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? vars[k] : `{${k}}`));
  };
  t.apply = (root = document) => {
    document.documentElement.lang = lang();
    root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
    root.querySelectorAll('[data-i18n-placeholder]').forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  };
  return t;
}

// langToggle wires a button that switches language and re-renders.
export function langToggle(button, rerender) {
  const label = () => { button.textContent = lang() === 'vi' ? 'English' : 'Tiếng Việt'; };
  label();
  button.addEventListener('click', () => { setLang(lang() === 'vi' ? 'en' : 'vi'); label(); rerender(); });
}
