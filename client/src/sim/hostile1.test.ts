import { hostileSweep } from './hostileSweep.ts';

hostileSweep(0, 1000);
