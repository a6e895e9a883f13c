import { createRoot } from 'react-dom/client';
import { App } from './ui/App.tsx';
import { readRoute } from './ui/nav.ts';
import { joinEarly } from './ui/Room.tsx';
import './ui/styles.css';

const root = document.getElementById('root');
if (root) {
  joinEarly(readRoute());
  createRoot(root).render(<App />);
}
