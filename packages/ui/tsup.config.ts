import { p2Tsup } from '../../tsup.base.ts';

export default p2Tsup();
