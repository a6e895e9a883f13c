import { hostileSweep } from './hostileSweep.ts';

hostileSweep(1000, 1000);
