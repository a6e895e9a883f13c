import { useEffect, useState } from 'react';
import { useTheme } from './nav.ts';

export function ThemeToggle() {
  const [theme, toggle] = useTheme();
  return (
    <button
      type="button"
      className="btn ghost icon"
      onClick={toggle}
      aria-label={theme === 'dark' ? 'Switch to light theme' : 'Switch to dark theme'}
      title={theme === 'dark' ? 'Light theme' : 'Dark theme'}
      data-testid="theme-toggle"
    >
      {theme === 'dark' ? '☀' : '☾'}
    </button>
  );
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** The room link with a copy button and a QR code. */
export function ShareLink({ link, compact = false }: { link: string; compact?: boolean }) {
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no');
  const [showQr, setShowQr] = useState(!compact);
  // Kept with the link it encodes: a QR code of another link (another password) is never shown.
  const [qr, setQr] = useState<{ link: string; src: string | null; problem?: string } | null>(null);
  useEffect(() => {
    if (!showQr) return;
    let live = true;
    // The encoder loads with the first QR code shown: most players never open one. An SVG as a data URL:
    // small to draw, sharp at any size, and allowed by the CSP's img-src.
    import('uqr').then(
      ({ renderSVG }) => {
        if (!live) return;
        let svg: string;
        try {
          svg = renderSVG(link, { ecc: 'M', border: 1 });
        } catch {
          // A link past a QR code's capacity (about 2,300 bytes at this level), e.g. a long password.
          setQr({ link, src: null, problem: 'The link is too long for a QR code: copy it instead.' });
          return;
        }
        setQr({ link, src: `data:image/svg+xml,${encodeURIComponent(svg)}` });
      },
      (e: unknown) => {
        // E.g. a deploy removed the chunk this page was built against.
        console.error('lockstep: the QR encoder did not load', e);
        if (live) setQr({ link, src: null, problem: 'The QR code could not load: reload the page.' });
      },
    );
    return () => {
      live = false;
    };
  }, [link, showQr]);
  const shown = qr?.link === link ? qr : null;
  return (
    <div className="share">
      <div className="share-row">
        <input
          className="mono"
          readOnly
          value={link}
          aria-label="Room link"
          onFocus={(e) => e.currentTarget.select()}
          data-testid="room-link"
        />
        <button
          type="button"
          className="btn"
          onClick={async () => {
            setCopied((await copyText(link)) ? 'yes' : 'failed');
            window.setTimeout(() => setCopied('no'), 1500);
          }}
          data-testid="copy-link"
        >
          {copied === 'yes' ? 'Copied' : copied === 'failed' ? 'Select & copy' : 'Copy link'}
        </button>
        <button
          type="button"
          className="btn ghost"
          aria-expanded={showQr}
          onClick={() => setShowQr((v) => !v)}
          data-testid="toggle-qr"
        >
          QR
        </button>
      </div>
      {showQr && (
        <div className="qr" data-testid="qr">
          {!shown ? (
            <span>…</span>
          ) : shown.src ? (
            <img src={shown.src} alt="QR code of the room link" width={220} height={220} />
          ) : (
            <span role="alert" data-testid="qr-problem">
              {shown.problem}
            </span>
          )}
        </div>
      )}
    </div>
  );
}

export function fmtAgo(ms: number | null): string {
  if (ms === null) return 'never';
  if (ms === 0) return 'now';
  if (ms < 1000) return `${Math.round(ms / 10) * 10} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** The header of the simple pages: the brand, home, and the theme toggle. */
export function PageHeader() {
  return (
    <header className="topbar">
      <a className="brand" href="/">
        <Logo /> Lockstep
      </a>
      <ThemeToggle />
    </header>
  );
}

export function Logo() {
  return (
    <svg className="logo" viewBox="0 0 64 64" aria-hidden="true">
      <circle cx="32" cy="32" r="30" fill="var(--accent)" />
      <path d="M32 14 48 40 16 40Z" fill="none" stroke="#fff" strokeWidth="3" strokeLinejoin="round" />
      <g fill="#fff">
        <circle cx="32" cy="14" r="6" />
        <circle cx="48" cy="40" r="6" />
        <circle cx="16" cy="40" r="6" />
      </g>
    </svg>
  );
}
