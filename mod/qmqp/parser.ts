/**
 * QMQP's request (qmail's QMQP protocol, cr.yp.to/proto/qmqp.html) as a sans-I/O parser:
 * feed it bytes, it says when the request is complete. The request is one netstring
 * holding netstrings: the message, the envelope sender, then one or more recipients.
 *   LEN:  MLEN:message,  SLEN:sender,  RLEN:recipient, ...  ,
 * Bounded: the message by `maxMessage` (a larger one is read to its end and dropped,
 * so the client still gets its answer), lengths by 10 digits, addresses by qmail's 1000
 * bytes (longer ones, and ones holding NUL, are read and refused as qmail-qmqpd does),
 * recipients by `maxRecipients`.
 */

export interface QmqpLimits {
  maxMessage: number;
  maxRecipients: number;
}

/** qmail-qmqpd's buffer: an address of 1000 bytes or more is refused. */
export const MAX_ADDRESS = 999;
/** Digits in a length: 10 cover qmail's 200000000 bound with room. */
const MAX_DIGITS = 10;

export class QmqpProtocolError extends Error {}

export interface QmqpRequest {
  /** The message bytes, in the chunks they arrived in (empty when it was too big). */
  message: Uint8Array[];
  messageSize: number;
  sender: Uint8Array;
  recipients: Uint8Array[];
  /** An address was too long or held NUL: qmail answers "can't accept addresses like that". */
  badAddress: boolean;
  /** The message was larger than maxMessage (its bytes were dropped). */
  tooBig: boolean;
  tooManyRecipients: boolean;
}

type State = "outer-len" | "len" | "body" | "comma" | "outer-comma" | "done";

export class QmqpParser {
  #state: State = "outer-len";
  #digits = "";
  /** Bytes of the outer netstring not yet consumed. */
  #outerLeft = 0;
  /** Which inner netstring: 0 message, 1 sender, 2.. recipients. */
  #field = 0;
  #fieldLeft = 0;
  #fieldBytes: Uint8Array[] = [];
  #fieldSize = 0;
  readonly request: QmqpRequest = {
    message: [], messageSize: 0, sender: new Uint8Array(), recipients: [],
    badAddress: false, tooBig: false, tooManyRecipients: false,
  };

  constructor(readonly limits: QmqpLimits) {}

  get done(): boolean {
    return this.#state === "done";
  }

  /** Consumes bytes; returns how many were used (all, unless the request ended). Throws QmqpProtocolError. */
  feed(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length && this.#state !== "done") {
      switch (this.#state) {
        case "outer-len":
        case "len":
          i = this.#length(chunk, i);
          break;
        case "body": {
          const n = Math.min(this.#fieldLeft, chunk.length - i);
          this.#take(chunk.subarray(i, i + n));
          i += n;
          this.#fieldLeft -= n;
          this.#outerLeft -= n;
          if (this.#fieldLeft === 0) this.#state = "comma";
          break;
        }
        case "comma":
          if (chunk[i++] !== 0x2c) throw new QmqpProtocolError("a netstring does not end with a comma");
          this.#outerLeft--;
          this.#finishField();
          break;
        case "outer-comma":
          if (chunk[i++] !== 0x2c) throw new QmqpProtocolError("the request does not end with a comma");
          this.#state = "done";
          break;
      }
    }
    return i;
  }

  #length(chunk: Uint8Array, start: number): number {
    let i = start;
    const inner = this.#state === "len";
    while (i < chunk.length) {
      const c = chunk[i++];
      if (inner) {
        if (this.#outerLeft === 0) throw new QmqpProtocolError("a netstring runs past the end of the request");
        this.#outerLeft--;
      }
      if (c === 0x3a) {
        if (this.#digits === "") throw new QmqpProtocolError("a netstring has no length");
        const len = Number(this.#digits);
        this.#digits = "";
        if (!inner) {
          this.#outerLeft = len;
          if (len === 0) throw new QmqpProtocolError("the request is empty");
          this.#state = "len";
        } else {
          if (len + 1 > this.#outerLeft) throw new QmqpProtocolError("a netstring runs past the end of the request");
          this.#startField(len);
        }
        return i;
      }
      if (c < 0x30 || c > 0x39) throw new QmqpProtocolError("a netstring length is not a number");
      if (this.#digits.length >= MAX_DIGITS) throw new QmqpProtocolError("a netstring length is too long");
      this.#digits += String.fromCharCode(c);
    }
    return i;
  }

  #startField(len: number): void {
    this.#fieldLeft = len;
    this.#fieldBytes = [];
    this.#fieldSize = 0;
    if (this.#field === 0 && len > this.limits.maxMessage) this.request.tooBig = true;
    this.#state = len === 0 ? "comma" : "body";
  }

  #take(bytes: Uint8Array): void {
    if (this.#field === 0) {
      if (!this.request.tooBig) this.request.message.push(bytes.slice());
      this.request.messageSize += bytes.length;
      return;
    }
    // Addresses: keep at most MAX_ADDRESS + 1 bytes, enough to know one is too long.
    if (this.#fieldSize <= MAX_ADDRESS) this.#fieldBytes.push(bytes.slice(0, MAX_ADDRESS + 1 - this.#fieldSize));
    this.#fieldSize += bytes.length;
  }

  #finishField(): void {
    if (this.#field > 0) {
      const address = Buffer.concat(this.#fieldBytes);
      if (this.#fieldSize > MAX_ADDRESS || address.includes(0)) this.request.badAddress = true;
      else if (this.#field === 1) this.request.sender = address;
      else if (this.request.recipients.length >= this.limits.maxRecipients) this.request.tooManyRecipients = true;
      else this.request.recipients.push(address);
    }
    this.#field++;
    if (this.#outerLeft > 0) {
      this.#state = "len";
      return;
    }
    if (this.#field < 3) throw new QmqpProtocolError(this.#field === 1 ? "the request has no sender" : "the request has no recipient");
    this.#state = "outer-comma";
  }
}
