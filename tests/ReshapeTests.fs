module GcnKd.Tests.ReshapeTests
