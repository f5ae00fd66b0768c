"""The synthetic Pinterest world (`omnisage synth`): latent interests, text, vectors and logs, written as the
data contracts' tables plus ground truth. Entry point: `omnisage.synth.world.generate_world`."""
