terraform {
  # 1.2 brought the lifecycle preconditions main.tf checks its variables with.
  required_version = ">= 1.2"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.0 and 6.x take every argument used here (replica point_in_time_recovery,
      # propagate_tags and arn, deletion_protection_enabled).
      version = ">= 5.0, < 7.0"
    }
  }
}
