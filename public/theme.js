// Before first paint, so a dark-theme user never sees a light flash. A file, not an inline script, so the
// page's Content-Security-Policy can say script-src 'self'.
try {
  const t = localStorage.getItem('lockstep:theme');
  const dark = t === 'dark' || (t !== 'light' && matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
} catch {}
