"""The provider simulator: a seeded world of AI spend served as the providers' billing APIs."""
