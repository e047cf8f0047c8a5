// One zustand store, built from slices; the worker connection feeds it.
import { create } from 'zustand';
import { createSessionSlice, type SessionSlice } from './session';
import { createSelfTestSlice, type SelfTestSlice } from './selfTest';

export type Store = SessionSlice & SelfTestSlice;

export const useStore = create<Store>()((...a) => ({
  ...createSessionSlice(...a),
  ...createSelfTestSlice(...a),
}));
