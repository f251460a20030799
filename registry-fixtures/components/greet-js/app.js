// The logic of connector.example.greet_js.
//
// `run` receives the input record as an object with camelCase fields
// (`page_size` in connector.yaml is `pageSize` here; `int` arrives as BigInt,
// an absent `optional` as undefined) and returns the output record.
export function run(input) {
  const name = input.name.trim();
  if (name === "") {
    // A declared error: throw a plain object with exactly these three fields
    // and a code listed under `errors` in connector.yaml. `throw new Error()`
    // traps instead of returning an error.
    throw { code: "empty_name", message: "`name` is empty", retryable: false };
  }
  return { greeting: `Hello, ${name}!` };
}
