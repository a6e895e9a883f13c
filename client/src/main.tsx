import { createRoot } from 'react-dom/client';
import { installPageHide } from './net/live.ts';
import { App } from './ui/App.tsx';
import './ui/styles.css';

installPageHide();
const root = document.getElementById('root');
if (root) createRoot(root).render(<App />);
