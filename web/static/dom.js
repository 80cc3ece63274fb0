// DOM helpers of the dashboard's pages.

// $ is the element with id.
export const $ = (id) => document.getElementById(id);

// h makes an element: props set its class, text, on… listeners and attributes (true: present,
// false, null or undefined: absent); null, undefined and false children are left out.
export const h = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return e;
};
