"""Mutation testing of the guard's decision core, run on demand (`python -m mutation.run`);
see README.md ("Mutation testing") and mutation/equivalent.md."""
